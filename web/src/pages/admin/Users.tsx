// PLACEHOLDER (issue 20): replaced by the page's owner.
export default function Users() {
  return <p>Users</p>;
}
