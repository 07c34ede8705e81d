import { Button } from '@fluentui/react-components';
import { useState } from 'react';
import { useI18n } from '../i18n/i18n';

/**
 * Paging by the API's opaque cursors, which only go forward: the cursors of the pages before this
 * one are kept so Previous can go back. `cursor` is the current page's (undefined on the first).
 */
export function useCursorPages() {
  const [cursors, setCursors] = useState<string[]>([]);
  return {
    cursor: cursors[cursors.length - 1],
    onFirstPage: cursors.length === 0,
    previous: () => setCursors((c) => c.slice(0, -1)),
    next: (nextCursor: string) => setCursors((c) => [...c, nextCursor]),
    /** Back to the first page, as a new search or filter starts. */
    reset: () => setCursors([]),
  };
}

/** Previous and Next for a list paged by useCursorPages; Next only while the API answered a nextCursor. */
export function CursorPagerButtons({ pages, nextCursor }: { pages: ReturnType<typeof useCursorPages>; nextCursor?: string | null }) {
  const { t } = useI18n();
  return (
    <>
      <Button disabled={pages.onFirstPage} onClick={pages.previous}>
        {t('audit.previous')}
      </Button>
      <Button disabled={!nextCursor} onClick={() => nextCursor && pages.next(nextCursor)}>
        {t('audit.next')}
      </Button>
    </>
  );
}
