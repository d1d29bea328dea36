# Tessera - neural style transfer as an MPI batch job.
#
# Build switches (make VAR=value):
#   SANITIZE=1   AddressSanitizer + UndefinedBehaviorSanitizer (tests too)
#   DEBUG=1      -O0 -g
#   CC=...       the MPI C compiler wrapper (default mpicc, Open MPI)
# Targets: all (bin/tessera), test (every test), check-deps, clean,
#          fuzz (libFuzzer targets in build-fuzz/, clang; run them with tests/fuzz/run.sh SECONDS).

CC       ?= mpicc
ifeq ($(origin CC),default)
CC       := mpicc
endif
SANITIZE ?= 0
DEBUG    ?= 0

BUILD    := build
BIN      := bin/tessera

PKGS     := libtiff-4 libpng libjpeg libcjson openblas
PKG_CFLAGS := $(shell pkg-config --cflags $(filter-out openblas,$(PKGS)) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(filter-out openblas,$(PKGS)) 2>/dev/null)
# OpenBLAS built on OpenMP shares one thread pool with our OpenMP loops; the pthread build makes the
# two pools spin against each other (measured: twice the time per iteration on 2 cores).
OPENBLAS_OMP_DIR := $(firstword $(wildcard /usr/lib/*-linux-gnu/openblas-openmp))
ifneq ($(OPENBLAS_OMP_DIR),)
BLAS_LIBS := -L$(OPENBLAS_OMP_DIR) -Wl,-rpath,$(OPENBLAS_OMP_DIR) -lopenblas
BLAS_CFLAGS := -I$(subst /lib/,/include/,$(OPENBLAS_OMP_DIR))
BLAS_KIND := OpenBLAS (OpenMP threads)
else
BLAS_LIBS := $(shell pkg-config --libs openblas 2>/dev/null)
BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
BLAS_KIND := OpenBLAS (pthreads; install libopenblas-openmp-dev for better threading)
endif
PKG_LIBS  += $(BLAS_LIBS)
PKG_CFLAGS += $(BLAS_CFLAGS)

CFLAGS   := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra -fopenmp \
            -Iinclude $(PKG_CFLAGS) -MMD -MP
LDLIBS   := $(PKG_LIBS) -lm -fopenmp
ifeq ($(DEBUG),1)
CFLAGS   += -O0 -g
else
CFLAGS   += -O2 -g
endif
ifeq ($(SANITIZE),1)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer
LDLIBS   += -fsanitize=address,undefined
BUILD    := build-san
BIN      := bin/tessera-san
endif

SRCS      := $(shell find src -name '*.c' | sort)
MAIN_SRC  := src/app/main.c
LIB_SRCS  := $(filter-out $(MAIN_SRC),$(SRCS))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
MAIN_OBJ  := $(MAIN_SRC:%.c=$(BUILD)/%.o)
TEST_SRCS := $(sort $(wildcard tests/test_*.c))
TEST_BINS := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)

.PHONY: all test check-deps clean tools
all: check-deps $(BIN)

# Say what was found; stop with the package names when something required is missing.
check-deps:
	@missing=""; \
	if command -v $(firstword $(CC)) >/dev/null 2>&1; then echo "  MPI      : $$($(CC) --showme:version 2>/dev/null || $(CC) --version | head -1)"; \
	else missing="$$missing openmpi-bin libopenmpi-dev"; echo "  MPI      : MISSING ($(CC))"; fi; \
	for p in $(PKGS); do \
	  if pkg-config --exists $$p 2>/dev/null; then echo "  $$p: $$(pkg-config --modversion $$p)"; \
	  else echo "  $$p: MISSING"; \
	    case $$p in libtiff-4) missing="$$missing libtiff-dev";; libpng) missing="$$missing libpng-dev";; \
	      libjpeg) missing="$$missing libjpeg-dev";; libcjson) missing="$$missing libcjson-dev";; \
	      openblas) missing="$$missing libopenblas-dev";; esac; fi; \
	done; \
	echo "  BLAS     : $(BLAS_KIND)"; \
	if command -v nvcc >/dev/null 2>&1; then echo "  CUDA     : nvcc found ($$(nvcc --version | tail -1)); CUDA backend not part of this build yet"; \
	else echo "  CUDA     : no nvcc (CPU backend only)"; fi; \
	if [ -n "$$missing" ]; then echo "error: missing build dependencies; on Debian: apt-get install$$missing" >&2; exit 1; fi

$(BIN): $(MAIN_OBJ) $(BUILD)/libtessera.a
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS)

$(BUILD)/libtessera.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/tests/%: tests/%.c $(BUILD)/libtessera.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -o $@ $< $(BUILD)/libtessera.a $(LDLIBS)

$(BUILD)/tools/%: tests/tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)

TOOLS := $(BUILD)/tools/refcheck
tools: $(TEST_BINS) $(TOOLS)

test: all $(TEST_BINS) $(TOOLS)
	@BUILD=$(BUILD) BIN=$(BIN) bash tests/run_all.sh

# ---- fuzzing: libFuzzer targets (tests/fuzz/fuzz_*.c) built with clang, ASan and UBSan ----------------
# The library sources (all but main.c) are compiled again with clang and coverage instrumentation into
# build-fuzz/; each target links what it uses from that archive.
FUZZ_CC     ?= clang
FUZZ_BUILD  := build-fuzz
FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra -g -O1 -fopenmp \
               -Iinclude $(PKG_CFLAGS) $(shell $(CC) --showme:compile 2>/dev/null) $(FUZZ_SAN) -Wno-pass-failed -MMD -MP
FUZZ_LIBS   := $(filter-out -fsanitize=%,$(LDLIBS)) $(shell $(CC) --showme:link 2>/dev/null)
FUZZ_OBJS   := $(LIB_SRCS:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_SRCS   := $(sort $(wildcard tests/fuzz/fuzz_*.c))
ifeq ($(wildcard include/tessera/batch.h),)
FUZZ_SRCS   := $(filter-out tests/fuzz/fuzz_job.c,$(FUZZ_SRCS)) # the job-file reader came with tessera batch
endif
FUZZ_BINS   := $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/%,$(FUZZ_SRCS))
.PHONY: fuzz
fuzz: $(FUZZ_BINS)

$(FUZZ_BUILD)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BUILD)/libtessera.a: $(FUZZ_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_BUILD)/libtessera.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Isrc/io -fsanitize=fuzzer -o $@ $< $(FUZZ_BUILD)/libtessera.a $(FUZZ_LIBS)

clean:
	rm -rf build build-san build-fuzz bin

-include $(LIB_OBJS:.o=.d) $(MAIN_OBJ:.o=.d) $(FUZZ_OBJS:.o=.d) $(FUZZ_BINS:=.d)
