import { PdfDict, PdfRef, PdfStream, type PdfObject } from '../pdf/objects.js';
import type { PdfReader } from '../pdf/reader.js';

/**
 * Who refers to whom in a document, found by walking every object reachable from the
 * trailer. The difference analysis needs it because what an object IS for a viewer is
 * decided by where it is referenced from, not by the names written inside it: a stream
 * is page content because a page's /Contents points to it, whatever its dictionary says.
 * Objects nothing reachable refers to (object streams, xref streams, orphans) are not in
 * it: no viewer shows them.
 */
export interface ReferenceGraph {
  /** Object number → numbers of the reachable objects whose value refers to it (TRAILER for the trailer). */
  parents: Map<number, Set<number>>;
  /** Objects reachable from the trailer without passing through the catalog's /DSS entry. */
  outsideDss: Set<number>;
  /** False when the walk hit its bound; the caller must not trust absence then. */
  complete: boolean;
}

export const TRAILER = -1;
const MAX_NODES = 200_000;

const graphs = new WeakMap<PdfReader, ReferenceGraph>();

/** The graph of a reader's document, computed once per reader (all signatures share the final document). */
export function referenceGraph(r: PdfReader): ReferenceGraph {
  let g = graphs.get(r);
  if (!g) {
    g = walk(r);
    graphs.set(r, g);
  }
  return g;
}

function walk(r: PdfReader): ReferenceGraph {
  const parents = new Map<number, Set<number>>();
  const children = new Map<number, number[]>();
  const rootNum = r.rootRef.num;
  const dssChildren = new Set<number>();
  const inUse = (n: number) => {
    const e = r.xrefEntry(n);
    return e !== undefined && e.type !== 0;
  };
  const queue: number[] = [];
  const link = (from: number, to: number) => {
    if (!inUse(to)) return;
    let p = parents.get(to);
    if (!p) {
      p = new Set();
      parents.set(to, p);
      queue.push(to);
    }
    p.add(from);
    let c = children.get(from);
    if (!c) children.set(from, (c = []));
    c.push(to);
  };
  for (const ref of refsIn(r.trailer)) link(TRAILER, ref.num);
  let complete = true;
  for (let i = 0; i < queue.length; i++) {
    if (i >= MAX_NODES) {
      complete = false;
      break;
    }
    const num = queue[i];
    const obj = objectAt(r, num);
    if (num === rootNum && obj instanceof PdfDict) {
      for (const [k, v] of obj.map) {
        for (const ref of refsIn(v)) {
          if (k === 'DSS') dssChildren.add(ref.num);
          else link(num, ref.num);
        }
      }
      // The DSS is linked too (for parents) but kept apart for outsideDss below.
      for (const n of dssChildren) {
        if (!inUse(n)) continue;
        let p = parents.get(n);
        if (!p) {
          p = new Set();
          parents.set(n, p);
          queue.push(n);
        }
        p.add(num);
      }
      continue;
    }
    for (const ref of refsIn(obj)) link(num, ref.num);
  }

  const outsideDss = new Set<number>();
  const stack = [...(children.get(TRAILER) ?? [])];
  while (stack.length) {
    const n = stack.pop()!;
    if (outsideDss.has(n)) continue;
    outsideDss.add(n);
    for (const c of children.get(n) ?? []) if (!outsideDss.has(c)) stack.push(c);
  }
  return { parents, outsideDss, complete };
}

export function objectAt(r: PdfReader, num: number): PdfObject | undefined {
  const e = r.xrefEntry(num);
  if (!e || e.type === 0) return undefined;
  try {
    return r.getObject(new PdfRef(num, e.type === 1 ? e.b : 0));
  } catch {
    return undefined;
  }
}

/** References directly inside an object (not followed). */
export function refsIn(o: PdfObject | undefined, out: PdfRef[] = [], depth = 0): PdfRef[] {
  if (depth > 64 || o === undefined || o === null) return out;
  if (o instanceof PdfRef) out.push(o);
  else if (Array.isArray(o)) for (const x of o) refsIn(x, out, depth + 1);
  else if (o instanceof PdfDict) for (const v of o.map.values()) refsIn(v, out, depth + 1);
  else if (o instanceof PdfStream) refsIn(o.dict, out, depth + 1);
  return out;
}
