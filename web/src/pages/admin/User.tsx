// PLACEHOLDER (issue 20): replaced by the page's owner.
export default function User() {
  return <p>User</p>;
}
