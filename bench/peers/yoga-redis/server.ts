/**
 * Peer: graphql-yoga with `@graphql-yoga/redis-event-target`, as yoga's subscriptions guide
 * sets it up: one pub/sub topic for every message, and each subscription filters that stream
 * for its group (`pipe(pubSub.subscribe(topic), filter(...))`). Every node therefore sees
 * every message and runs every subscription's filter on it. Sends are a mutation over HTTP;
 * subscriptions run over graphql-ws (`graphql-transport-ws`), authenticated at
 * `connection_init` like the platform. Nothing is stored.
 */
import { createServer } from 'node:http';
import { createRedisEventTarget } from '@graphql-yoga/redis-event-target';
import { GraphQLError, type DocumentNode, type ExecutionArgs } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { createPubSub, createSchema, createYoga, filter, pipe } from 'graphql-yoga';
import { WebSocketServer } from 'ws';
import {
  MAX_BODY_LENGTH,
  announceStarted,
  createSequencer,
  createVerifier,
  exitOnSignal,
  readPeerEnv,
  redisClient,
  type PeerMessage,
} from '../common.ts';

const env = readPeerEnv();
const verify = createVerifier(env.jwtSecret);
const nextId = createSequencer(env.nodeId);
const publishClient = redisClient(env.redisUrl);
const subscribeClient = publishClient.duplicate();
const pubSub = createPubSub<{ messageAdded: [PeerMessage] }>({
  eventTarget: createRedisEventTarget({ publishClient, subscribeClient }),
});

interface Context {
  readonly userId: string | null;
}

const schema = createSchema<Context>({
  typeDefs: /* GraphQL */ `
    type User {
      id: ID!
    }
    type Message {
      id: ID!
      groupId: ID!
      seq: Int!
      body: String!
      sender: User!
    }
    type Query {
      ok: Boolean!
    }
    type Mutation {
      sendGroupMessage(groupId: ID!, body: String!): Message!
    }
    type Subscription {
      messageAdded(groupId: ID!): Message!
    }
  `,
  resolvers: {
    Query: { ok: () => true },
    Mutation: {
      sendGroupMessage: (_root: unknown, args: { groupId: string; body: string }, context: Context) => {
        if (context.userId === null) throw new GraphQLError('unauthenticated', { extensions: { code: 'UNAUTHENTICATED' } });
        if (args.body.length > MAX_BODY_LENGTH) throw new GraphQLError('body too long', { extensions: { code: 'BAD_USER_INPUT' } });
        const { id, seq } = nextId(args.groupId);
        const message: PeerMessage = { id, groupId: args.groupId, seq, body: args.body, sender: { id: context.userId } };
        pubSub.publish('messageAdded', message);
        return message;
      },
    },
    Subscription: {
      messageAdded: {
        subscribe: (_root: unknown, args: { groupId: string }) =>
          pipe(
            pubSub.subscribe('messageAdded'),
            filter((message: PeerMessage) => message.groupId === args.groupId),
          ),
        resolve: (message: PeerMessage) => message,
      },
    },
  },
});

const bearer = (header: string | null | undefined): string | null => /^Bearer (\S+)$/.exec(header ?? '')?.[1] ?? null;

const yoga = createYoga<{ socketUserId?: string }, Context>({
  schema,
  graphiql: false,
  context: async ({ request, socketUserId }) => {
    // graphql-ws authenticated the socket at connection_init.
    if (socketUserId !== undefined) return { userId: socketUserId };
    const token = bearer(request.headers.get('authorization'));
    if (token === null) return { userId: null };
    try {
      return { userId: await verify(token) };
    } catch {
      return { userId: null };
    }
  },
});

interface EnvelopedRoot {
  readonly execute: (args: ExecutionArgs) => unknown;
  readonly subscribe: (args: ExecutionArgs) => unknown;
}

const http = createServer(yoga);
const wss = new WebSocketServer({ server: http, path: yoga.graphqlEndpoint });
// yoga's graphql-ws recipe: operations run through yoga's envelop (same plugins and context).
const disposable = useServer<Record<string, unknown> | undefined, { userId?: string }>(
  {
    execute: (args) => (args.rootValue as EnvelopedRoot).execute(args) as never,
    subscribe: (args) => (args.rootValue as EnvelopedRoot).subscribe(args) as never,
    onConnect: async (ctx) => {
      const token = bearer(ctx.connectionParams?.['authorization'] as string | undefined);
      try {
        ctx.extra.userId = await verify(token);
        return true;
      } catch {
        return false;
      }
    },
    onSubscribe: async (ctx, _id, payload) => {
      const userId = ctx.extra.userId;
      const { schema: enveloped, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
        ...(userId === undefined ? {} : { socketUserId: userId }),
        req: ctx.extra.request,
      });
      let document: DocumentNode;
      try {
        document = parse(payload.query);
      } catch (error) {
        if (error instanceof GraphQLError) return [error];
        throw error;
      }
      const args: ExecutionArgs = {
        schema: enveloped,
        operationName: payload.operationName ?? null,
        document,
        variableValues: payload.variables ?? null,
        contextValue: await contextFactory(),
        rootValue: { execute, subscribe } satisfies EnvelopedRoot,
      };
      const errors = validate(args.schema, args.document);
      if (errors.length > 0) return errors;
      return args;
    },
  },
  wss,
);

http.listen(env.port, env.host, () => {
  const address = http.address();
  announceStarted(typeof address === 'object' && address !== null ? address.port : env.port, 'yoga-redis');
});

exitOnSignal(async () => {
  for (const client of wss.clients) client.terminate();
  await disposable.dispose();
  http.close();
  publishClient.disconnect();
  subscribeClient.disconnect();
});
