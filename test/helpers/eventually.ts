/**
 * Polls `cond` every 10 ms until it holds, for at most `ms`; resolves whether it did (the
 * caller asserts). For effects that arrive from another connection or process, where the
 * only thing a test may claim about time is a generous upper bound.
 */
export async function eventually(cond: () => boolean | Promise<boolean>, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
