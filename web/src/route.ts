/** The open conversation lives in the URL (`/g/<groupId>`), so a reload reopens it. */
import { useCallback, useEffect, useState } from 'react';

const groupFromPath = (): string | null => {
  const match = /^\/g\/([^/]+)$/.exec(window.location.pathname);
  return match === null ? null : decodeURIComponent(match[1] as string);
};

export function useOpenGroup(): [string | null, (groupId: string | null) => void] {
  const [groupId, setGroupId] = useState(groupFromPath);
  useEffect(() => {
    const onPop = () => setGroupId(groupFromPath());
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);
  const open = useCallback((next: string | null) => {
    const path = next === null ? '/' : `/g/${encodeURIComponent(next)}`;
    if (window.location.pathname !== path) history.pushState(null, '', path);
    setGroupId(next);
  }, []);
  return [groupId, open];
}
