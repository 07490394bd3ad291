// Who is on the other end of a shim connection, as the kernel says: SO_PEERCRED gave the pid;
// /proc/<pid>/ns/net names its network namespace and /proc/<pid>/net/fib_trie lists the
// addresses local to that namespace. The router matches those against this host's endpoints.
// Nothing the shim sends is believed about who it is.
import { promises as fs } from 'node:fs';

export interface Caller {
  pid: number;
  /** Inode of the caller's network namespace (stable for the namespace's life). */
  netns: number;
  /** IPv4 addresses local to that namespace, loopback excluded. */
  addresses: string[];
}

/** Reads a live process's namespace and addresses; null when the process is already gone. */
export async function identifyCaller(pid: number): Promise<Caller | null> {
  try {
    const [ns, trie] = await Promise.all([fs.stat(`/proc/${pid}/ns/net`), fs.readFile(`/proc/${pid}/net/fib_trie`, 'utf8')]);
    return { pid, netns: ns.ino, addresses: localAddresses(trie) };
  } catch {
    return null;
  }
}

/** The "/32 host LOCAL" leaves of a fib_trie dump: the namespace's own addresses. */
export function localAddresses(fibTrie: string): string[] {
  const found = new Set<string>();
  let last: string | null = null;
  for (const line of fibTrie.split('\n')) {
    const leaf = /\|-- (\d+\.\d+\.\d+\.\d+)\s*$/.exec(line);
    if (leaf) {
      last = leaf[1] ?? null;
      continue;
    }
    if (last && /^\s*\/32 host LOCAL\s*$/.test(line) && !last.startsWith('127.')) found.add(last);
  }
  return [...found];
}
