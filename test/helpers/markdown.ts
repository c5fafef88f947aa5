import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The project root, from dist/test/helpers/. */
export const ROOT = join(import.meta.dirname, '..', '..', '..');

/** README.md and every page under docs/, as paths relative to the root. */
export function documentationFiles(): string[] {
  const pages = readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md'));
  return ['README.md', ...pages.map((name) => `docs/${name}`)];
}

/** Markdown text with fenced code blocks blanked out, so examples inside them are not read as prose. */
export function proseOf(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, '');
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
export function anchorOf(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}_\- ]/gu, '')
    .replace(/ /g, '-');
}

export function anchorsIn(markdown: string): Set<string> {
  const headings = proseOf(markdown).matchAll(/^#{1,6} (.+)$/gm);
  return new Set([...headings].map((match) => anchorOf(match[1]!)));
}

export function readRoot(path: string): string {
  return readFileSync(join(ROOT, path), 'utf8');
}
