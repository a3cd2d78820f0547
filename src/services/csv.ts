import { badRequest } from '../errors.js';

/**
 * A small RFC 4180 reader for the staff upload (quoted fields, doubled quotes, CRLF or LF,
 * a UTF-8 BOM from spreadsheet exports). Returns rows with the file line each started on.
 */
export interface CsvRow {
  line: number;
  fields: string[];
}

export function parseCsv(text: string, maxRows: number): CsvRow[] {
  const rows: CsvRow[] = [];
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let line = 1;
  let field = '';
  let fields: string[] = [];
  let rowLine = 1;
  let quoted = false;
  let fieldStarted = false;
  const endRow = () => {
    fields.push(field);
    // Blank lines (one empty field) are skipped, as spreadsheets leave them at the end.
    if (!(fields.length === 1 && fields[0] === '')) {
      if (rows.length >= maxRows) throw badRequest('csv-too-many-rows', `the file has more than ${maxRows - 1} data rows`);
      rows.push({ line: rowLine, fields });
    }
    fields = [];
    field = '';
    fieldStarted = false;
  };
  while (i < text.length) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      if (c === '\n') line++;
      field += c;
      i++;
      continue;
    }
    if (c === '"' && !fieldStarted) {
      quoted = true;
      fieldStarted = true;
      i++;
    } else if (c === ',') {
      fields.push(field);
      field = '';
      fieldStarted = false;
      i++;
    } else if (c === '\r' || c === '\n') {
      endRow();
      if (c === '\r' && text[i + 1] === '\n') i++;
      i++;
      line++;
      rowLine = line;
    } else {
      field += c;
      fieldStarted = true;
      i++;
    }
  }
  if (quoted) throw badRequest('csv-malformed', `line ${rowLine}: a quoted field is not closed`);
  if (field !== '' || fields.length) endRow();
  return rows;
}
