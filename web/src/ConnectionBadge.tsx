/** The live connection as the user needs to know it: up, coming back (and when), or signed out. */
import { useEffect, useState } from 'react';
import type { ConnectionState } from '../../client/index.ts';

export function ConnectionBadge({ connection }: { connection: ConnectionState }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (connection.retryAt === null) return;
    const timer = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(timer);
  }, [connection.retryAt]);

  let label: string;
  switch (connection.status) {
    case 'connected':
      label = 'Connected';
      break;
    case 'connecting':
      label = 'Connecting…';
      break;
    case 'reconnecting': {
      const seconds = connection.retryAt === null ? 0 : Math.ceil((connection.retryAt - now) / 1000);
      label = seconds > 0 ? `Offline, retrying in ${seconds} s` : 'Reconnecting…';
      break;
    }
    case 'unauthorized':
      label = 'Signed out: sign in again';
      break;
    case 'disposed':
      label = 'Closed';
      break;
  }
  return (
    <div className={`connection ${connection.status}`} role="status" data-testid="connection" data-status={connection.status}>
      <span className="dot" aria-hidden="true" />
      {label}
    </div>
  );
}
