// PLACEHOLDER (issue 20): replaced by the page's owner.
export default function Usage() {
  return <p>Usage</p>;
}
