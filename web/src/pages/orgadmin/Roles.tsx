// PLACEHOLDER (issue 20): replaced by the page's owner.
export default function Roles() {
  return <p>Roles</p>;
}
