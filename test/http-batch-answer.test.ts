import t from 'tap';
import { batchAnswerJson } from '../src/http/batch-answer.js';

t.test('the batch answer written into a Buffer is exactly the JSON of the results', async (t) => {
  const pdf = Buffer.from('%PDF-1.7\n\u00ff\u0000 signed %%EOF\n', 'latin1');
  const error = { type: 'https://hocba.example/problems/pdf-encrypted', title: 'Unprocessable', status: 422, detail: 'mã hoá "AES" \\ không hỗ trợ' };
  const items = [
    { index: 0, name: 'Nguyễn Thị Hương — 10A1', ok: true as const, sha256: 'a'.repeat(64), field: 'Signature1', sha256After: 'b'.repeat(64), pdf },
    { index: 1, name: null, ok: false as const, sha256: 'c'.repeat(64), error },
    { index: 2, name: '😀 "quoted"', ok: true as const, sha256: 'd'.repeat(64), field: 'Chữ ký 2', sha256After: 'e'.repeat(64), pdf: Buffer.alloc(0) },
  ];
  const out = batchAnswerJson(items);
  const parsed = JSON.parse(out.toString('utf8'));
  t.same(parsed, {
    signed: 2,
    failed: 1,
    results: [
      { ...items[0], pdf: pdf.toString('base64') },
      items[1],
      { ...items[2], pdf: '' },
    ],
  });
  t.equal(out.toString('utf8').endsWith(']}'), true, 'nothing after the closing brace');
  t.same(JSON.parse(batchAnswerJson([]).toString()), { signed: 0, failed: 0, results: [] });
});
