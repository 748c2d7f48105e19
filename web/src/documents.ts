/** The chat's own operations beyond the kit's, typed by `npm run codegen` into web/src/gql. */
import { graphql } from './gql/index.ts';

export const GroupMembersQuery = graphql(`
  query WebGroupMembers($groupId: ID!, $first: Int!, $after: String) {
    group(id: $groupId) {
      id
      owner {
        id
      }
      members(first: $first, after: $after) {
        nodes {
          id
          name
        }
        pageInfo {
          hasNextPage
          endCursor
        }
      }
    }
  }
`);
