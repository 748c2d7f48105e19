// The package ioredis uses to route keys (it ships no types): the Redis Cluster hash slot of a
// key or shard channel, honouring hash tags. https://github.com/luin/cluster-key-slot
declare module 'cluster-key-slot' {
  export default function calculateSlot(key: string | Buffer): number;
}
