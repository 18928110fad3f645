// The grading's two files: grades.csv (csv-stringify), one row per archive, and grades.html, the
// same table an instructor can sort by any column with a click, offline (inline script, no network).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import type { Grade } from './grade-archive.ts';

/** The table's rows, header first: archive, learner, date, each lesson, verified, each warning. */
export function gradeTable(grades: Grade[]): string[][] {
  const lessons = [...new Set(grades.flatMap((grade) => Object.keys(grade.lessons)))].sort();
  const warnings = Math.max(1, ...grades.map((grade) => grade.findings.length));
  return [
    [
      'archive',
      'learner',
      'date',
      ...lessons.map((lesson) => `lesson ${lesson}`),
      'verified',
      ...Array.from({ length: warnings }, (_, i) => `warning ${i + 1}`),
    ],
    ...grades.map((grade) => [
      grade.archive,
      grade.learner,
      grade.date,
      ...lessons.map((lesson) => {
        const result = grade.lessons[lesson];
        return result ? (result.ok ? 'passed' : 'failed') : '';
      }),
      grade.verified,
      ...Array.from({ length: warnings }, (_, i) => grade.findings[i]?.text ?? ''),
    ]),
  ];
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

// Sorts the rows by the clicked column, numbers as numbers; a second click reverses.
const sorter = `
document.querySelectorAll('th').forEach((th, column) => th.addEventListener('click', () => {
  const body = th.closest('table').tBodies[0];
  const down = th.dataset.order !== 'up';
  document.querySelectorAll('th').forEach((other) => delete other.dataset.order);
  th.dataset.order = down ? 'up' : 'down';
  const cell = (row) => row.cells[column].textContent;
  const rows = [...body.rows].sort((a, b) => cell(a).localeCompare(cell(b), undefined, { numeric: true }));
  if (!down) rows.reverse();
  body.append(...rows);
}));`;

function html(table: string[][]): string {
  const [header = [], ...rows] = table;
  const cell = (text: string) =>
    `<td class="${/^(passed|yes)$/.test(text) ? 'good' : /^(failed|no|refused)$/.test(text) ? 'bad' : ''}">${escapeHtml(text)}</td>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Grades</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 2em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { cursor: pointer; background: #f4f4f4; user-select: none; }
th[data-order="up"]::after { content: " ▲"; } th[data-order="down"]::after { content: " ▼"; }
.good { color: #1a7f37; } .bad { color: #cf222e; font-weight: 600; }
</style></head><body>
<h1>Grades</h1>
<p>${rows.length} archive${rows.length === 1 ? '' : 's'}; click a column's title to sort by it.</p>
<table>
<thead><tr>${header.map((title) => `<th>${escapeHtml(title)}</th>`).join('')}</tr></thead>
<tbody>
${rows.map((row) => `<tr>${row.map(cell).join('')}</tr>`).join('\n')}
</tbody></table>
<script>${sorter}</script>
</body></html>
`;
}

/** Writes grades.csv and grades.html into `folder`; returns their paths. */
export function writeGrades(folder: string, grades: Grade[]): [string, string] {
  const table = gradeTable(grades);
  const csv = join(folder, 'grades.csv');
  const page = join(folder, 'grades.html');
  writeFileSync(csv, stringify(table));
  writeFileSync(page, html(table));
  return [csv, page];
}
