// Start-up of secure mode: put the daemon in its cgroup, run the loader once, open the maps the
// router writes, and say which mode Slim runs in:
//   secure          BPF LSM and cgroup programs (every attack refused)
//   secure-partial  cgroup programs only (this is what kernels without the BPF LSM get)
//   trusted         nothing loaded: containers holding host sockets are trusted with them
import { existsSync } from 'node:fs';
import type { Logger } from 'pino';
import type { SecureMode } from '../config.js';
import { placeDaemon } from './cgroup.js';
import { type LoadResult, loaderPath, loadPrograms, PIN_ROOT, unloadPrograms } from './loader.js';
import { SecureMaps } from './maps.js';

export type Enforcement = 'secure' | 'secure-partial' | 'trusted';

export interface SecureState {
  mode: Enforcement;
  /** One line for logs and `slim status`. */
  note: string;
  setting: SecureMode;
  cgroup: string | null;
  pin: string | null;
  programs: string[];
  lsm: LoadResult['lsm'] | null;
  /** What the router writes; null in trusted mode. */
  maps: SecureMaps | null;
}

export const NOTES: Record<Enforcement, string> = {
  secure: 'kernel enforcement by the BPF LSM and cgroup programs: containers cannot re-point, bind, listen on or set dangerous options on host sockets, nor read host addresses',
  'secure-partial': 'kernel enforcement by cgroup programs only (this kernel runs no BPF LSM): connect, bind, TCP Fast Open and dangerous socket options are refused and getsockname/getpeername show overlay addresses; known gaps: connect(AF_UNSPEC) itself succeeds, and listen() after it succeeds but its listener never completes a handshake',
  trusted: 'no kernel enforcement: containers holding host sockets are trusted with them',
};

/** Which mode a successful load gives. */
export function enforcementOf(result: LoadResult): Enforcement {
  return result.lsm.state === 'loaded' ? 'secure' : 'secure-partial';
}

function trusted(setting: SecureMode, why: string): SecureState {
  return { mode: 'trusted', note: `${NOTES.trusted} (${why})`, setting, cgroup: null, pin: null, programs: [], lsm: null, maps: null };
}

export async function startSecureMode(setting: SecureMode, wantedCgroup: string | null, log: Logger): Promise<SecureState> {
  const loader = loaderPath();
  if (setting === 'off') {
    // Programs an earlier run left attached would go on enforcing while status says trusted.
    if (loader && existsSync(PIN_ROOT)) {
      const removed = await unloadPrograms(loader).catch((err: Error) => {
        log.warn({ err: err.message }, 'secure mode: cannot remove the programs an earlier run pinned');
        return 0;
      });
      if (removed) log.info({ removed, pin: PIN_ROOT }, 'secure mode off: removed the programs an earlier run pinned');
    }
    return trusted(setting, 'secure mode off');
  }
  try {
    if (!loader) throw new Error('kernel-module/build/slim-loader is not built (npm run build)');
    const placed = await placeDaemon(wantedCgroup);
    log.info({ cgroup: placed.dir, how: placed.how }, 'secure mode: the daemon runs in its own cgroup');
    const { result, warnings } = await loadPrograms(loader, placed.dir);
    if (warnings) log.debug({ warnings }, 'secure mode: loader messages');
    const mode = enforcementOf(result);
    const maps = SecureMaps.open(result.pin);
    log.info({ mode, cgroup: result.cgroup, programs: result.programs, lsm: result.lsm, reusedMaps: result.reusedMaps }, `secure mode: ${mode}`);
    if (mode === 'secure-partial') log.warn({ lsm: result.lsm.state, detail: result.lsm.detail }, `secure-partial mode: ${NOTES['secure-partial']}`);
    return { mode, note: NOTES[mode], setting, cgroup: result.cgroup, pin: result.pin, programs: result.programs, lsm: result.lsm, maps };
  } catch (err) {
    const why = (err as Error).message;
    if (setting === 'required') throw new Error(`secure mode is required (--secure-mode required) but kernel enforcement could not be set up: ${why}`);
    // Whatever part was pinned would enforce while status says trusted.
    if (loader) await unloadPrograms(loader).catch(() => 0);
    log.error({ err: why }, 'secure mode unavailable: running in trusted mode');
    return trusted(setting, `secure mode unavailable: ${why}`);
  }
}

/** For `slim status`. */
export function secureStatus(s: SecureState) {
  return {
    setting: s.setting,
    cgroup: s.cgroup,
    pin: s.pin,
    programs: s.programs,
    lsm: s.lsm,
    ...(s.maps ? { kernel: s.maps.status() } : {}),
  };
}
