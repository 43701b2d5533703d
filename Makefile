# Build, install and test Gantry.
#
#   make                      cargo build --release (gantry, gantry-gpu) + man pages, completions
#   make install              to $(DESTDIR)$(PREFIX): PREFIX=/usr/local, DESTDIR for packaging
#   make uninstall
#   make test                 scripts/test.sh, the CI command (as root)
#
# The man pages (section 8) and the bash, zsh and fish completions of gantry and gantry-gpu are
# generated from their clap definitions by target/release/gantry-docgen
# (docgen/src/main.rs), so neither binary carries any of that.
#
# `install` builds nothing when the binaries are there (build first, then install as root).
# It also installs gpu-hook/scripts/gantry-gpu-runtime (docs/kubernetes.md, docs/gpu.md: the
# containerd 1.6 GPU handler), its paths to gantry and gantry-gpu set to $(BINDIR).

PREFIX ?= /usr/local
DESTDIR ?=
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR ?= $(DATADIR)/zsh/site-functions
FISHCOMPDIR ?= $(DATADIR)/fish/vendor_completions.d

CARGO ?= cargo
INSTALL ?= install
RELEASE := target/release
BINS := $(RELEASE)/gantry $(RELEASE)/gantry-gpu
GPU_RUNTIME := gpu-hook/scripts/gantry-gpu-runtime
DOCGEN := $(RELEASE)/gantry-docgen
GEN := $(RELEASE)/generated

.PHONY: all build generate install uninstall test clean-generated

all: build

build:
	$(CARGO) build --release -p gantry -p gantry-gpu -p gantry-docgen
	$(MAKE) generate

# Only when missing: `make install` on a built tree runs no cargo.
$(BINS) $(DOCGEN):
	$(CARGO) build --release -p gantry -p gantry-gpu -p gantry-docgen

generate: $(DOCGEN)
	rm -rf $(GEN)
	$(DOCGEN) man $(GEN)/man8
	$(DOCGEN) completions bash $(GEN)/completions/gantry
	$(DOCGEN) completions zsh $(GEN)/completions/_gantry
	$(DOCGEN) completions fish $(GEN)/completions/gantry.fish
	$(DOCGEN) completions bash $(GEN)/completions/gantry-gpu gantry-gpu
	$(DOCGEN) completions zsh $(GEN)/completions/_gantry-gpu gantry-gpu
	$(DOCGEN) completions fish $(GEN)/completions/gantry-gpu.fish gantry-gpu

install: $(BINS) generate
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	$(INSTALL) -m 0755 $(BINS) $(DESTDIR)$(BINDIR)/
	sed 's|/usr/local/bin/|$(BINDIR)/|g' $(GPU_RUNTIME) >$(DESTDIR)$(BINDIR)/gantry-gpu-runtime
	chmod 0755 $(DESTDIR)$(BINDIR)/gantry-gpu-runtime
	$(INSTALL) -m 0644 $(GEN)/man8/*.8 $(DESTDIR)$(MANDIR)/man8/
	$(INSTALL) -m 0644 $(GEN)/completions/gantry $(DESTDIR)$(BASHCOMPDIR)/gantry
	$(INSTALL) -m 0644 $(GEN)/completions/_gantry $(DESTDIR)$(ZSHCOMPDIR)/_gantry
	$(INSTALL) -m 0644 $(GEN)/completions/gantry.fish $(DESTDIR)$(FISHCOMPDIR)/gantry.fish
	$(INSTALL) -m 0644 $(GEN)/completions/gantry-gpu $(DESTDIR)$(BASHCOMPDIR)/gantry-gpu
	$(INSTALL) -m 0644 $(GEN)/completions/_gantry-gpu $(DESTDIR)$(ZSHCOMPDIR)/_gantry-gpu
	$(INSTALL) -m 0644 $(GEN)/completions/gantry-gpu.fish $(DESTDIR)$(FISHCOMPDIR)/gantry-gpu.fish

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/gantry $(DESTDIR)$(BINDIR)/gantry-gpu $(DESTDIR)$(BINDIR)/gantry-gpu-runtime
	rm -f $(DESTDIR)$(MANDIR)/man8/gantry.8 $(DESTDIR)$(MANDIR)/man8/gantry-*.8
	rm -f $(DESTDIR)$(BASHCOMPDIR)/gantry $(DESTDIR)$(ZSHCOMPDIR)/_gantry \
		$(DESTDIR)$(FISHCOMPDIR)/gantry.fish $(DESTDIR)$(BASHCOMPDIR)/gantry-gpu \
		$(DESTDIR)$(ZSHCOMPDIR)/_gantry-gpu $(DESTDIR)$(FISHCOMPDIR)/gantry-gpu.fish

test:
	scripts/test.sh

clean-generated:
	rm -rf $(GEN)
