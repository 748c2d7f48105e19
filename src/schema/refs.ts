/**
 * The object types' refs and their backing shapes, in one place: each type's file implements
 * its own, and any file can name another's without importing it (no cycle between type files).
 */
import type { GroupView } from '../resolvers/groups.ts';
import type { MessageRecord, UserRecord } from '../storage/port.ts';
import { builder } from './builder.ts';

export const User = builder.objectRef<UserRecord>('User');
export const Group = builder.objectRef<GroupView>('Group');
export const Message = builder.objectRef<MessageRecord>('Message');

/** Every connection pages a list the contract names `<Type>Connection` with `<Type>Edge`s. */
export const UserConnection = builder.connectionObject({ type: User, name: 'UserConnection' });
export const GroupConnection = builder.connectionObject({ type: Group, name: 'GroupConnection' });
export const MessageConnection = builder.connectionObject({ type: Message, name: 'MessageConnection' });
