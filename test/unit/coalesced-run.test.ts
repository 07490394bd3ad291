import test from 'ava';
import { CoalescedRun } from '../../driver/coalesced-run.js';

test('a burst of triggers during a run gives exactly one more run', async (t) => {
  let runs = 0;
  let release!: () => void;
  const run = new CoalescedRun(async () => {
    runs++;
    if (runs === 1) await new Promise<void>((r) => (release = r));
  });
  run.schedule();
  for (let i = 0; i < 10; i++) run.schedule();
  t.is(runs, 1);
  release();
  await new Promise((r) => setTimeout(r, 10));
  await run.settled();
  t.is(runs, 2);
});
