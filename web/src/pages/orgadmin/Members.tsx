// PLACEHOLDER (issue 20): replaced by the page's owner.
export default function Members() {
  return <p>Members</p>;
}
