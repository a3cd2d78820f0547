/** A CustodyLog (info and warn) that keeps what it is told, for tests that read the warnings back. */
export interface Logged {
  level: 'info' | 'warn';
  msg: string;
  obj: object;
}

export function recorder() {
  const lines: Logged[] = [];
  return {
    lines,
    warnings: () => lines.filter((l) => l.level === 'warn'),
    info: (obj: object, msg = '') => void lines.push({ level: 'info', msg, obj }),
    warn: (obj: object, msg = '') => void lines.push({ level: 'warn', msg, obj }),
  };
}
