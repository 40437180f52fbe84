import { readFileSync } from 'node:fs';
import { mkdir, readdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ResumableArchive } from '#core/integrity-monitor.ts';

/**
 * The archive layout in a local directory: evidence exports, offline verification and tests. Keys map to
 * relative paths (`/` separated); a write goes to a temporary file first, so a reader never sees half an object.
 */
export class DirectoryArchiveStore implements ResumableArchive {
  constructor(private readonly root: string) {}

  async put(key: string, body: Uint8Array, _contentType: string): Promise<void> {
    const path = this.pathOf(key);
    await mkdir(dirname(path), { recursive: true });
    const temporary = `${path}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(temporary, body);
    await rename(temporary, path);
  }

  /**
   * Read synchronously: a local object is small, and this store serves one CLI process; the promise API costs
   * several times the CPU per file (open, stat, read and close each a round trip), which a verification of
   * thousands of objects notices.
   */
  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      return readFileSync(this.pathOf(key));
    } catch (error) {
      if (
        (error as NodeJS.ErrnoException).code === 'ENOENT' ||
        (error as NodeJS.ErrnoException).code === 'EISDIR'
      ) {
        return undefined;
      }
      throw error;
    }
  }

  async *list(prefix: string, options: { startAfter?: string } = {}): AsyncIterable<string> {
    // Only the directory the prefix names is walked (`events/tenant=a/` walks `events/tenant=a`), if it is a
    // plain relative path; anything else is filtered from a walk of the whole root, as keys always are.
    const directory = prefix.slice(0, prefix.lastIndexOf('/'));
    const keys = (await this.walk(isRelativePath(directory) ? directory : '')).filter(
      (key) => key.startsWith(prefix) && (options.startAfter === undefined || key > options.startAfter),
    );
    // S3 lists in UTF-8 byte order; for the archive's ASCII keys that is plain string order.
    yield* keys.sort();
  }

  private async walk(relative: string): Promise<string[]> {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(join(this.root, relative), { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const keys: string[] = [];
    for (const entry of entries) {
      const key = relative ? `${relative}/${entry.name}` : entry.name;
      if (entry.isDirectory()) keys.push(...(await this.walk(key)));
      else if (entry.isFile() && !entry.name.endsWith('.tmp')) keys.push(key);
    }
    return keys;
  }

  /** Rejects keys that would escape the root (`..`, absolute paths, backslashes). */
  private pathOf(key: string): string {
    if (!isRelativePath(key)) throw new Error(`archive key ${JSON.stringify(key)} is not a relative path`);
    return join(this.root, ...key.split('/'));
  }
}

/** A path of plain segments under the root: not empty, no `.` or `..`, no backslash, not absolute. */
const isRelativePath = (path: string) =>
  path.length > 0 &&
  !path.includes('\\') &&
  path.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
