/** mulberry32: a small, fast PRNG that gives the same sequence on every machine, for fuzz tests that must replay. */
export function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n: number) => Math.floor(next() * n), byte: () => Math.floor(next() * 256) };
}
export type Prng = ReturnType<typeof prng>;
