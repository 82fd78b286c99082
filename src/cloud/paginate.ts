import { CloudAnswerError, printable } from "./errors";

/** Items asked for per page (EC2 allows 5 to 1000): a page stays well under MAX_ANSWER_BYTES. */
export const PAGE_SIZE = 500;
/** Pages one listing may take: 200 pages of 500 = 100 000 instances or images. */
export const MAX_PAGES = 200;

export interface Page<T> { items: T[]; next?: string; }

/**
 * Follows NextToken until the last page. A cloud that hands back a token it
 * already gave, or pages past MAX_PAGES, is stopped with a message saying so.
 */
export async function allPages<T>(fetchPage: (token: string | undefined) => Promise<Page<T>>, what: string): Promise<T[]> {
  const seen = new Set<string>();
  const items: T[] = [];
  let token: string | undefined;
  for (let pages = 1; ; pages++) {
    const page = await fetchPage(token);
    items.push(...page.items);
    if (!page.next) return items;
    if (seen.has(page.next))
      throw new CloudAnswerError(`the cloud sent the same NextToken '${printable(page.next, 40)}' again after ${pages} pages of ${what}; stopped (a listing that would never end)`);
    if (pages >= MAX_PAGES)
      throw new CloudAnswerError(`more than ${MAX_PAGES} pages of ${what} (${items.length} so far); stopped: narrow the listing (--owner, --name, --tag, --state)`);
    seen.add(page.next);
    token = page.next;
  }
}
