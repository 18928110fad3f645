// Terminal captures (text with ANSI colours, as `tmux capture-pane -e` gives them) drawn as panes in
// an HTML page, and that page photographed by headless Chromium.
import AnsiToHtml from 'ansi-to-html';
import { launchBrowser } from './browser.ts';

export interface Pane {
  title: string;
  /** The captured text, ANSI colour codes included. */
  text: string;
}

/** Fixed metrics, so a capture of C columns and R rows is always the same number of pixels. */
export const cell = { width: 8, height: 16, padding: 10, title: 24, gap: 8 };

export function paneSize(cols: number, rows: number): { width: number; height: number } {
  return {
    width: cols * cell.width + 2 * cell.padding,
    height: rows * cell.height + 2 * cell.padding + cell.title,
  };
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]!);

/** Panes laid out in `columns` columns, each `cols` × `rows` characters. */
export function terminalPage(panes: Pane[], cols: number, rows: number, columns = panes.length): string {
  const convert = new AnsiToHtml({ fg: '#d8d8d8', bg: '#1e1e1e', escapeXML: true });
  const { width, height } = paneSize(cols, rows);
  const body = panes
    .map((pane) => {
      // Keep exactly `rows` lines: the capture's last rows, padded.
      const lines = pane.text.replace(/\n+$/, '').split('\n').slice(-rows);
      const html = lines.map((line) => convert.toHtml(line) || ' ').join('\n');
      return `<div class="pane"><div class="title">${escapeHtml(pane.title)}</div><pre>${html}</pre></div>`;
    })
    .join('');
  const gridWidth = columns * width + (columns - 1) * cell.gap;
  return `<!doctype html><html><head><meta charset="utf-8"><style>
html, body { margin: 0; background: #111; }
#shot { display: grid; grid-template-columns: repeat(${columns}, ${width}px); gap: ${cell.gap}px; width: ${gridWidth}px; }
.pane { width: ${width}px; height: ${height}px; box-sizing: border-box; background: #1e1e1e; overflow: hidden; }
.title { height: ${cell.title}px; line-height: ${cell.title}px; padding: 0 ${cell.padding}px; background: #333; color: #eee;
  font: 12px/24px 'DejaVu Sans', sans-serif; white-space: nowrap; overflow: hidden; }
pre { margin: 0; padding: ${cell.padding}px; height: ${rows * cell.height}px; font: 13px/${cell.height}px 'DejaVu Sans Mono', monospace;
  color: #d8d8d8; white-space: pre; overflow: hidden; letter-spacing: 0; }
</style></head><body><div id="shot">${body}</div></body></html>`;
}

/** Renders the panes to a PNG; returns its size in pixels. */
export async function renderPanes(
  panes: Pane[],
  cols: number,
  rows: number,
  file: string,
  columns?: number,
): Promise<{ width: number; height: number }> {
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage({ viewport: { width: 1800, height: 1200 }, deviceScaleFactor: 1 });
    await page.setContent(terminalPage(panes, cols, rows, columns));
    const shot = page.locator('#shot');
    await shot.screenshot({ path: file });
    const box = (await shot.boundingBox())!;
    return { width: Math.round(box.width), height: Math.round(box.height) };
  } finally {
    await browser.close();
  }
}

/** Width and height from a PNG's header. */
export function pngSize(png: Buffer): { width: number; height: number } {
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}
