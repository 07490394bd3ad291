// Run by test/run.sh before the VM tier: checks the tools and fetches the kernel (cached), so the
// tier's tests never pay for a download and a machine that cannot run them says why.
// Exit 0: ready (one line on stdout). Exit 3: the tier cannot run here, the reason on stdout.
// Exit 1: something else went wrong.
import { checkTools, ensureKernel, VmUnavailable } from './vm.js';

try {
  await checkTools();
  const t0 = Date.now();
  const k = await ensureKernel((s) => console.error(s));
  console.log(`VM tier: kernel ${k.pkg} ${k.version} (${k.vmlinuz}, ready in ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
} catch (e) {
  if (e instanceof VmUnavailable) {
    console.log(e.message);
    process.exit(3);
  }
  console.log(`VM tier: ${(e as Error).stack ?? String(e)}`);
  process.exit(1);
}
