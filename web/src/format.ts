/** Times as a chat shows them: the time today, the date otherwise. */
export function shortTime(iso: string, now = new Date()): string {
  const date = new Date(iso);
  const sameDay = date.toDateString() === now.toDateString();
  return sameDay
    ? date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' })
    : date.toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
}

export const displayName = (user: { readonly id: string; readonly name: string | null }): string => user.name ?? user.id;

/** User ids typed as a list: separated by commas, spaces or new lines. */
export const parseIds = (text: string): string[] => [...new Set(text.split(/[\s,]+/).filter((id) => id !== ''))];
