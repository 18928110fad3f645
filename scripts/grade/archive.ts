// Opens one hand-in archive without running anything from it: reads the gzip tar entry by entry
// (tar-stream), refuses what tar would turn into a trap (absolute paths, '..', links, devices, an
// entry or a total beyond the limits), and copies the regular files, and only them, into a fresh
// private folder to grade.
import { createReadStream } from 'node:fs';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { CourseError } from '../../shared/errors.ts';

export interface Limits {
  /** The largest one entry may be, in bytes. */
  entryBytes: number;
  /** The most all entries together may unpack to, in bytes. */
  totalBytes: number;
}

/** Why an archive is not graded at all: one sentence, for its row and its line. */
export class RefusedArchive extends CourseError {
  constructor(message: string) {
    super(message, { code: 'REFUSED_ARCHIVE' });
  }
}

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(bytes < 2 ** 20 ? 3 : 1)} MB`;

/** The name inside the archive, without tar's leading './'; refused when it could leave `into`. */
export function safeName(raw: string): string {
  const name = raw.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
  if (raw.startsWith('/') || name.startsWith('/') || /^[A-Za-z]:[\\/]/.test(raw))
    throw new RefusedArchive(`entry '${raw}' is an absolute path`);
  if (name.split(/[\\/]/).includes('..')) throw new RefusedArchive(`entry '${raw}' climbs out with '..'`);
  if (name.includes('\0')) throw new RefusedArchive(`entry '${raw}' holds a NUL byte`);
  return name;
}

const kinds: Record<string, string> = {
  symlink: 'a symbolic link',
  link: 'a hard link',
  'character-device': 'a character device',
  'block-device': 'a block device',
  fifo: 'a named pipe',
};

/** Reads the first bytes: gzip's magic number, or the one sentence an instructor needs. */
async function assertGzip(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(2), 0, 2, 0);
    if (bytesRead < 2 || buffer[0] !== 0x1f || buffer[1] !== 0x8b)
      throw new RefusedArchive('it is not a gzip tar archive (no gzip header)');
  } finally {
    await handle.close();
  }
}

/**
 * Copies the archive's regular files into `into` (which must be new and empty) and returns their
 * names. Throws RefusedArchive, whose message completes "<archive> was refused: …".
 */
export async function unpack(file: string, into: string, limits: Limits): Promise<string[]> {
  await assertGzip(file);
  const extract = tar.extract();
  const reading = pipeline(createReadStream(file), createGunzip(), extract);
  // The pipeline's own failure (a truncated gzip) is read after the loop, never left unhandled.
  reading.catch(() => {});
  const names: string[] = [];
  const seen = new Set<string>();
  let total = 0;
  try {
    for await (const entry of extract) {
      const { header } = entry;
      const name = safeName(header.name);
      const type = header.type ?? 'file';
      if (kinds[type])
        throw new RefusedArchive(
          `entry '${header.name}' is ${kinds[type]}${header.linkname ? ` (to '${header.linkname}')` : ''}`,
        );
      if (type !== 'file' && type !== 'contiguous-file' && type !== 'directory')
        throw new RefusedArchive(`entry '${header.name}' is of tar type '${type}', not a file or folder`);
      const size = header.size ?? 0;
      if (size > limits.entryBytes)
        throw new RefusedArchive(
          `entry '${name}' is ${mb(size)}, over the ${mb(limits.entryBytes)} limit for one entry (--max-entry-mb)`,
        );
      if (total + size > limits.totalBytes)
        throw new RefusedArchive(
          `it unpacks to more than the ${mb(limits.totalBytes)} limit for one archive (--max-total-mb)`,
        );
      if (type === 'directory') {
        entry.resume();
        if (name) await mkdir(join(into, name), { recursive: true });
        continue;
      }
      if (!name) throw new RefusedArchive(`a file entry '${header.name}' has no name`);
      if (seen.has(name))
        throw new RefusedArchive(`it holds '${name}' twice (the second would replace the first)`);
      seen.add(name);
      const chunks: Buffer[] = [];
      let bytes = 0;
      for await (const chunk of entry as AsyncIterable<Buffer>) {
        // The header's size is a claim; the bytes are counted too.
        bytes += chunk.length;
        if (bytes > limits.entryBytes || total + bytes > limits.totalBytes)
          throw new RefusedArchive(`entry '${name}' holds more bytes than its header says`);
        chunks.push(chunk);
      }
      total += bytes;
      await place(into, name, Buffer.concat(chunks));
      names.push(name);
    }
  } catch (error) {
    extract.destroy();
    if (error instanceof RefusedArchive) throw error;
    // The pipeline's own failure (gzip's 'unexpected end of file') says more than the iterator's.
    const streamFailure = await reading.then(
      () => undefined,
      (failure: unknown) => failure,
    );
    throw damaged(streamFailure ?? error);
  }
  try {
    await reading;
  } catch (error) {
    throw damaged(error);
  }
  return names;
}

/** Writes one file under `into`, checked again against the resolved path, with our own mode. */
async function place(into: string, name: string, content: Buffer): Promise<void> {
  const target = resolve(into, name);
  // safeName refused every way out already; this is the second lock on the same door.
  if (!target.startsWith(`${resolve(into)}${sep}`))
    throw new RefusedArchive(`entry '${name}' would be written outside the archive's folder`);
  try {
    await mkdir(dirname(target), { recursive: true });
    // Nothing from the archive's header (mode, owner, time) is applied.
    await writeFile(target, content, { mode: 0o600, flag: 'wx' });
  } catch {
    throw new RefusedArchive(`entry '${name}' clashes with another entry's path (a file and a folder)`);
  }
}

function damaged(error: unknown): RefusedArchive {
  return new RefusedArchive(
    `it is truncated or damaged (${(error as Error).message}; ask the learner to send it again)`,
  );
}
