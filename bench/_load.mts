import { createTokenVerifier } from '/work/main/src/auth/jwt.ts';
const url = process.argv[2]!;
const tokens = createTokenVerifier('bench-secret');
async function gql(token: string, query: string, variables: Record<string, unknown>) {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query, variables }) });
  return (await r.json()) as any;
}
const owner = await tokens.sign({ id: 'owner' });
const g = await gql(owner, 'mutation { createGroup(input:{name:"b", memberIds:["a","b","c"]}) { group { id } } }', {});
const groupId = g.data.createGroup.group.id;
let n = 0; const N = 3000; const t0 = performance.now();
await Promise.all(Array.from({ length: 16 }, async (_, w) => { while (n < N) { n++; await gql(owner, 'mutation S($g:ID!,$b:String!,$c:String!){ sendGroupMessage(input:{groupId:$g, body:$b, clientMessageId:$c}) { message { seq } } }', { g: groupId, b: 'x', c: `c${w}-${n}` }); } }));
console.log((N / ((performance.now() - t0) / 1000)).toFixed(0), 'msg/s');
