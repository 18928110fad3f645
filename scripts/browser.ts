// Headless Chromium (Debian's package, driven by playwright-core) for the report test and screenshots.
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';
import { CourseError } from '../shared/errors.ts';

export function chromiumPath(): string {
  const candidates = [
    process.env.CHROMIUM_PATH,
    '/usr/bin/chromium',
    '/usr/bin/chromium-browser',
    '/usr/bin/google-chrome',
  ];
  const found = candidates.find((path): path is string => Boolean(path && existsSync(path)));
  if (!found) {
    throw new CourseError(
      "No Chromium found: run `npm run services` (it installs Debian's chromium as root), or set CHROMIUM_PATH.",
      { code: 'NO_BROWSER' },
    );
  }
  return found;
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    // No sandbox as root; no background traffic to hosts this machine cannot reach.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
