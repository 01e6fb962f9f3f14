// PLACEHOLDER (issue 20): replaced by the page's owner.
export default function Apps() {
  return <p>Apps</p>;
}
