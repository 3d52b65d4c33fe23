// The projects workload_test builds, generated so nothing large is committed:
// a make project (modules with data tables, generated headers, a static
// library and a program) and an autotools + libtool project. Each comes with
// the output its program must print, computed here from the same tables, so
// a build is checked against more than another build.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <random>
#include <string>

namespace scalefs::test {

struct Project {
  std::map<std::string, std::string> files;  // relative path -> contents
  std::string expected_output;               // what the built program prints
};

namespace workload_internal {

inline std::string Num(int i) {
  char b[8];
  std::snprintf(b, sizeof b, "%02d", i);
  return b;
}

// A C source of one module: `n` table entries and two functions, the sum of
// the table and a chain that calls the previous module (so the archive's
// members refer to each other). Returns the table's sum in *sum.
inline std::string ModuleSource(const std::string& name, const std::string& prev, int n,
                                const std::string& includes, std::mt19937* rng, uint32_t* sum) {
  std::string s = includes + (prev.empty() ? "" : "#include \"" + prev + ".h\"\n") + "#include \"" +
                  name + ".h\"\n\nstatic const unsigned int " + name + "_data[" +
                  std::to_string(n) + "] = {\n";
  *sum = 0;
  char b[16];
  for (int i = 0; i < n; ++i) {
    const uint32_t v = (*rng)();
    *sum += v;
    std::snprintf(b, sizeof b, "0x%08xu,", v);
    s += b;
    s += i % 8 == 7 ? "\n" : " ";
  }
  s += "\n};\n\nunsigned int " + name + "_sum(void) {\n  unsigned int s = 0;\n" +
       "  for (unsigned long i = 0; i < sizeof " + name + "_data / sizeof " + name +
       "_data[0]; ++i) s += " + name + "_data[i];\n  return s;\n}\n\n";
  s += "unsigned int " + name + "_chain(void) { return " + name + "_sum()" +
       (prev.empty() ? std::string() : " ^ " + prev + "_chain()") + "; }\n";
  return s;
}

inline std::string ModuleHeader(const std::string& name) {
  return "#ifndef " + name + "_H\n#define " + name + "_H\nunsigned int " + name +
         "_sum(void);\nunsigned int " + name + "_chain(void);\n#endif\n";
}

inline std::string Hex(uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof b, "%08x", v);
  return b;
}

}  // namespace workload_internal

// `make -j2` builds libwl.a from 32 modules (module 0 has a table of 90,000
// entries, so its object is about 360 KB) plus two generated sources, lists
// its symbols with nm, links `app` and runs it into out.txt. As in many classic projects, sources,
// generated files and objects share src/ (some 150 files). Generated files,
// each read by later steps: src/config.h (a script's output, written to a
// temporary name and renamed, as config.status does), src/table.h (sed),
// src/names.c (awk, reading src/config.h) and src/data.c (awk, reading the
// 500 KB src/data.in another awk wrote, 4 KiB per read). Objects are built
// without -g, so the outputs do not depend on the folder.
inline Project MakeProject() {
  using namespace workload_internal;
  constexpr int kModules = 32;
  constexpr int kDataItems = 30000;
  Project p;
  std::mt19937 rng(12);
  p.files["config.in"] = "WL_MAGIC 2654435761\nWL_ROUNDS 7\nWL_NAME workload\n";
  p.files["genconfig.sh"] =
      "#!/bin/sh\n"
      "# Writes a C header from NAME VALUE lines: numbers unsigned, the rest strings.\n"
      "set -e\n"
      "echo \"/* generated from $1 */\"\n"
      "echo '#ifndef WL_CONFIG_H'\n"
      "echo '#define WL_CONFIG_H'\n"
      "while read -r name value; do\n"
      "  case $value in\n"
      "    [0-9]*) echo \"#define $name ${value}u\" ;;\n"
      "    *) echo \"#define $name \\\"$value\\\"\" ;;\n"
      "  esac\n"
      "done < \"$1\"\n"
      "echo '#endif'\n";
  std::string table;
  uint32_t table_sum = 0;
  for (int i = 0; i < 40; ++i) {
    const uint32_t v = rng() % 100000;
    table_sum += v;
    table += "entry_" + Num(i) + " " + std::to_string(v) + "\n";
  }
  p.files["table.in"] = table;
  // src/data.in: "item_NNNNN VALUE" lines of a 16-bit LCG that awk computes exactly.
  uint32_t x = 12345, data_sum = 0;
  for (int i = 0; i < kDataItems; ++i) {
    x = (x * 75 + 74) % 65537;
    data_sum += x;
  }
  p.files["src/common.h"] =
      "#ifndef WL_COMMON_H\n#define WL_COMMON_H\n"
      "struct wl_entry { const char *name; unsigned int value; };\n"
      "extern const char *const wl_config_names[];\n"
      "extern const unsigned int wl_data[];\nextern const unsigned long wl_data_len;\n#endif\n";
  const std::string includes =
      "#include \"common.h\"\n#include \"config.h\"\n#include \"table.h\"\n";
  std::string modules, main_calls, main_includes;
  uint32_t chain = 0;
  std::string expected;
  for (int m = 0; m < kModules; ++m) {
    const std::string name = "mod" + Num(m);
    const std::string prev = m == 0 ? "" : "mod" + Num(m - 1);
    const int n = m == 0 ? 90000 : 300 + static_cast<int>(rng() % 4000);
    uint32_t sum;
    p.files["src/" + name + ".c"] = ModuleSource(name, prev, n, includes, &rng, &sum);
    p.files["src/" + name + ".h"] = ModuleHeader(name);
    chain ^= sum;
    modules += " " + name;
    main_includes += "#include \"" + name + ".h\"\n";
    main_calls += "  printf(\"" + name + " %08x\\n\", " + name + "_sum());\n";
    expected += name + " " + Hex(sum) + "\n";
  }
  p.files["src/main.c"] =
      "#include <stdio.h>\n" + includes + main_includes + "\nint main(void) {\n" + main_calls +
      "  printf(\"chain %08x\\n\", mod" + Num(kModules - 1) +
      "_chain());\n"
      "  unsigned int t = 0;\n"
      "  for (unsigned long i = 0; i < sizeof wl_table / sizeof wl_table[0]; ++i)"
      " t += wl_table[i].value;\n"
      "  printf(\"table %u\\n\", t);\n"
      "  unsigned int d = 0;\n"
      "  for (unsigned long i = 0; i < wl_data_len; ++i) d += wl_data[i];\n"
      "  printf(\"data %lu %u\\n\", wl_data_len, d);\n"
      "  printf(\"config %s\", WL_NAME);\n"
      "  for (int i = 0; wl_config_names[i]; ++i) printf(\" %s\", wl_config_names[i]);\n"
      "  printf(\" rounds %u\\n\", WL_ROUNDS);\n"
      "  return 0;\n}\n";
  expected += "chain " + Hex(chain) + "\n";
  expected += "table " + std::to_string(table_sum) + "\n";
  expected += "data " + std::to_string(kDataItems) + " " + std::to_string(data_sum) + "\n";
  expected += "config workload WL_MAGIC WL_ROUNDS WL_NAME rounds 7\n";
  p.expected_output = expected;
  p.files["Makefile"] =
      "CC = gcc\n"
      "CFLAGS = -O2 -Wall\n"
      "MODULES =" +
      modules +
      "\n"
      "LIBOBJS = $(MODULES:%=src/%.o) src/names.o src/data.o\n"
      "\n"
      "all: app out.txt libwl.syms\n"
      "\n"
      "src/config.h: genconfig.sh config.in\n"
      "\tsh genconfig.sh config.in > $@.tmp && mv -f $@.tmp $@\n"
      "src/table.h: table.in\n"
      "\tsed -e '1i static const struct wl_entry wl_table[] = {' \\\n"
      "\t    -e 's/^\\([a-z0-9_]*\\) \\([0-9]*\\)$$/  { \"\\1\", \\2u },/' -e '$$a };' "
      "table.in > $@\n"
      "src/names.c: src/config.h\n"
      "\t{ echo '#include \"common.h\"'; echo 'const char *const wl_config_names[] = {'; \\\n"
      "\t  awk '/^#define WL_[A-Z]+ / { printf \"  \\\"%s\\\",\\n\", $$2 }' src/config.h; \\\n"
      "\t  echo '  0'; echo '};'; } > $@\n"
      "src/data.in:\n"
      "\tawk 'BEGIN { x = 12345; for (i = 0; i < " +
      std::to_string(kDataItems) +
      "; i++) "
      "{ x = (x * 75 + 74) % 65537; printf \"item_%05d %d\\n\", i, x } }' > $@\n"
      "src/data.c: src/data.in\n"
      "\tawk 'BEGIN { print \"const unsigned int wl_data[] = {\" } "
      "{ print \"  \" $$2 \"u, /* \" $$1 \" */\" } "
      "END { print \"};\"; print \"const unsigned long wl_data_len = \" NR \";\" }' "
      "src/data.in > $@\n"
      "src/%.o: src/%.c src/config.h src/table.h\n"
      "\t$(CC) $(CFLAGS) -MMD -MP -c $< -o $@\n"
      "libwl.a: $(LIBOBJS)\n"
      "\trm -f $@ && ar rcsD $@ $(LIBOBJS)\n"
      "libwl.syms: libwl.a\n"
      "\tnm -g --defined-only libwl.a | awk 'NF == 3 { print $$3 }' | sort > $@\n"
      "app: src/main.o libwl.a\n"
      "\t$(CC) -o $@ src/main.o -L. -lwl\n"
      "out.txt: app\n"
      "\t./app > $@.tmp && mv -f $@.tmp $@\n"
      "\n"
      "-include $(LIBOBJS:.o=.d) src/main.d\n";
  return p;
}

// autoconf + automake + libtool: libwl.la (shared and static) from six
// modules and wlprog linked against it. config.status writes the 340 KB
// `libtool` script that every later compile and link step runs.
inline Project AutotoolsProject() {
  using namespace workload_internal;
  constexpr int kModules = 6;
  Project p;
  std::mt19937 rng(34);
  std::string sources, headers, header, calls, expected;
  for (int m = 0; m < kModules; ++m) {
    const std::string name = "wl" + Num(m);
    uint32_t sum;
    p.files["src/" + name + ".c"] =
        ModuleSource(name, m == 0 ? "" : "wl" + Num(m - 1), 500 + static_cast<int>(rng() % 6000),
                     "#include \"config.h\"\n", &rng, &sum);
    p.files["src/" + name + ".h"] = ModuleHeader(name);
    sources += " src/" + name + ".c";
    headers += " src/" + name + ".h";
    header += "#include \"" + name + ".h\"\n";
    calls += "  printf(\"" + name + " %08x\\n\", " + name + "_sum());\n";
    expected += name + " " + Hex(sum) + "\n";
  }
  p.files["src/wl.h"] = header;
  p.files["src/prog.c"] =
      "#include <stdio.h>\n#include \"config.h\"\n#include \"wl.h\"\n"
      "int main(void) {\n  printf(\"%s\\n\", PACKAGE_STRING);\n" +
      calls + "  return 0;\n}\n";
  p.expected_output = "wl 1.0\n" + expected;
  p.files["configure.ac"] =
      "AC_INIT([wl], [1.0])\n"
      "AC_CONFIG_SRCDIR([src/prog.c])\n"
      "AC_CONFIG_AUX_DIR([build-aux])\n"
      "AC_CONFIG_MACRO_DIRS([m4])\n"
      "AM_INIT_AUTOMAKE([foreign subdir-objects])\n"
      "AC_PROG_CC\n"
      "LT_INIT\n"
      "AC_CONFIG_HEADERS([config.h])\n"
      "AC_CONFIG_FILES([Makefile])\n"
      "AC_OUTPUT\n";
  p.files["Makefile.am"] =
      "ACLOCAL_AMFLAGS = -I m4\n"
      "AM_CPPFLAGS = -I$(srcdir)/src\n"
      "lib_LTLIBRARIES = libwl.la\n"
      "libwl_la_SOURCES =" +
      sources +
      "\n"
      "libwl_la_LDFLAGS = -version-info 1:0:0\n"
      "include_HEADERS = src/wl.h" +
      headers +
      "\n"
      "bin_PROGRAMS = wlprog\n"
      "wlprog_SOURCES = src/prog.c\n"
      "wlprog_LDADD = libwl.la\n";
  p.files["m4/README"] = "libtoolize puts its macros here.\n";
  return p;
}

}  // namespace scalefs::test
