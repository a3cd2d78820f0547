import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import t from 'tap';

/**
 * The layers the code is organised in, held by a test because nothing else stops an import
 * that crosses one: the PDF engine reads and appends PDF structure and knows no certificate,
 * the signing and validation domain knows nothing of HTTP, the store, the configuration or
 * the services that wire it up, and only the HTTP layer and the entry points know HTTP.
 */
const src = resolve(import.meta.dirname, '..', 'src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** The part of src a file belongs to: its top folder, or its own name for files at the top (errors, config, log, main, cli). */
const partOf = (file: string) => relative(src, file).split('/')[0].replace(/\.ts$/, '');

/** What each file imports from the rest of src, by part. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]);
  return specs.map((s) => partOf(resolve(dirname(file), s.replace(/\.js$/, '.ts'))));
}

const RULES: { parts: string[]; may?: string[]; mayNot?: string[] }[] = [
  { parts: ['asn1'], may: ['asn1', 'errors'] },
  { parts: ['crypto'], may: ['crypto', 'asn1', 'errors'] },
  { parts: ['pdf'], may: ['pdf', 'crypto', 'asn1', 'errors'] },
  { parts: ['pades', 'validation', 'tsa'], mayNot: ['http', 'store', 'services', 'custody', 'config', 'log', 'main', 'cli'] },
  { parts: ['pki', 'revocation', 'audit', 'custody', 'store'], mayNot: ['http', 'services', 'main', 'cli'] },
  { parts: ['services'], mayNot: ['http', 'main', 'cli'] },
];

const files = sourceFiles(src);

t.ok(files.length > 100, `read ${files.length} source files`);

for (const rule of RULES) {
  t.test(`${rule.parts.join(', ')}: ${rule.may ? `only ${rule.may.join(', ')}` : `never ${rule.mayNot!.join(', ')}`}`, async (t) => {
    const crossings: string[] = [];
    let checked = 0;
    for (const f of files.filter((f) => rule.parts.includes(partOf(f)))) {
      checked++;
      for (const p of importsOf(f)) {
        const allowed = rule.may ? rule.may.includes(p) : !rule.mayNot!.includes(p);
        if (!allowed) crossings.push(`${relative(src, f)} imports ${p}`);
      }
    }
    t.ok(checked > 0, `${checked} files`);
    t.same(crossings, [], 'imports that cross the layer');
  });
}

t.test('only the HTTP layer and the entry points import the HTTP layer', async (t) => {
  const crossings = files.filter((f) => !['http', 'main', 'cli'].includes(partOf(f))).flatMap((f) => (importsOf(f).includes('http') ? [relative(src, f)] : []));
  t.same(crossings, []);
});

t.test('the import reader sees what it should (a check of the check)', async (t) => {
  t.same(importsOf(join(src, 'pdf', 'dss.ts')).sort(), ['crypto', 'pdf', 'pdf', 'pdf', 'pdf'].sort(), 'pdf/dss.ts: its own engine and the content key');
  t.ok(importsOf(join(src, 'http', 'app.ts')).includes('services'), 'http/app.ts imports the services it wires');
});
