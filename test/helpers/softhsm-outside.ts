import { cpSync, mkdtempSync, readdirSync } from 'node:fs';
import path from 'node:path';
import * as graphene from 'graphene-pk11';
import { createLogger } from '../../src/log.js';
import type { SoftHsm } from './softhsm.js';
import { run } from './tools.js';

/**
 * What the HSM-loss tests do to a SoftHSM token from outside the service: more tokens made
 * up front, the library opened as another program in the same process would, a token's
 * files taken away and put back, and the service's log captured.
 */

/** SoftHSM sees only the tokens present when it initialises, so every token a file damages is made at once. */
export function initMoreTokens(hsm: SoftHsm, labels: readonly string[]): void {
  for (const label of labels) {
    const r = run('softhsm2-util', ['--init-token', '--free', '--label', label, '--so-pin', hsm.soPin, '--pin', hsm.pin]);
    if (r.status !== 0) throw new Error(`softhsm2-util --init-token ${label}: ${r.stderr}${r.stdout}`);
  }
}

export function outsideOf(hsm: SoftHsm) {
  let module: graphene.Module | null = null;
  /** Loaded late: the first token the service opens initialises the library. */
  const outside = (): graphene.Module => (module ??= graphene.Module.load(hsm.module));

  function slot(label: string): graphene.Slot {
    const slots = outside().getSlots(true);
    for (let i = 0; i < slots.length; i++) {
      const s = slots.items(i);
      try {
        if (s.getToken().label.trim() === label) return s;
      } catch {
        // a token that does not answer is not the one asked for
      }
    }
    throw new Error(`no slot holds token ${label}`);
  }

  /** Takes the token's files away (softhsm2-util --delete-token); the function returned puts them back, as re-inserting a token would. */
  function pullToken(label: string): () => void {
    const tokens = path.join(hsm.dir, 'tokens');
    const backup = mkdtempSync(path.join(hsm.dir, 'pulled-'));
    cpSync(tokens, backup, { recursive: true });
    const before = readdirSync(tokens);
    const r = run('softhsm2-util', ['--delete-token', '--token', label]);
    if (r.status !== 0) throw new Error(`softhsm2-util --delete-token ${label}: ${r.stderr}${r.stdout}`);
    const gone = before.filter((d) => !readdirSync(tokens).includes(d));
    if (gone.length !== 1) throw new Error(`expected one token directory to go, not ${gone.length}`);
    return () => cpSync(path.join(backup, gone[0]!), path.join(tokens, gone[0]!), { recursive: true });
  }

  /** Re-initialises the token as its security officer would, giving it the user PIN `pin`: what the service logged in with is refused from then on. */
  function reinitToken(label: string, pin: string): void {
    const s = slot(label);
    s.closeAll();
    // C_InitToken itself: graphene's initToken misreads the (void) answer.
    s.lib.C_InitToken(s.handle, hsm.soPin, label);
    const so = s.open(graphene.SessionFlag.SERIAL_SESSION | graphene.SessionFlag.RW_SESSION);
    so.login(hsm.soPin, graphene.UserType.SO);
    so.initPin(pin);
    so.logout();
    so.close();
  }

  return { module: outside, slot, pullToken, reinitToken };
}

/** A logger whose JSON lines the test reads back. */
export function captureLog() {
  let lines = '';
  const log = createLogger({ destination: { write: (s: string) => void (lines += s) } });
  const messages = () => lines.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string; level: number; [k: string]: unknown });
  return { log, lines: () => lines, messages, count: (re: RegExp) => messages().filter((m) => re.test(m.msg)).length };
}
