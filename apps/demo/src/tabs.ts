/**
 * The demo's pages as tabs with hash routes (#train, #beta-sweep, #race): a link works, the back
 * button works, and the page that is not shown keeps its state.
 */
export const PAGES = ['train', 'beta-sweep', 'race'] as const;
export type PageId = (typeof PAGES)[number];

export function setUpTabs(): void {
  const show = () => {
    const wanted = location.hash.slice(1);
    const page: PageId = (PAGES as readonly string[]).includes(wanted) ? (wanted as PageId) : 'train';
    for (const id of PAGES) {
      document.getElementById(`page-${id}`)!.hidden = id !== page;
      const tab = document.getElementById(`tab-${id}`)!;
      if (id === page) tab.setAttribute('aria-current', 'page');
      else tab.removeAttribute('aria-current');
    }
  };
  window.addEventListener('hashchange', show);
  show();
}
