// PLACEHOLDER (issue 20): replaced by the page's owner.
export default function Groups() {
  return <p>Groups</p>;
}
