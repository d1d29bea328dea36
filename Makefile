# Tessera - neural style transfer as an MPI batch job.
#
# Build switches (make VAR=value):
#   SANITIZE=1   AddressSanitizer + UndefinedBehaviorSanitizer (tests too)
#   DEBUG=1      -O0 -g
#   CC=...       the MPI C compiler wrapper (default mpicc, Open MPI)
#   CUDA=0|1     the CUDA + cuBLAS backend (default 1 when nvcc is found: on PATH or in CUDA_HOME/bin),
#                a shared object installed beside the binary ($(BIN)-cuda.so) and opened on first use
#   CUDA_HOME=.. the CUDA toolkit (default: the folder above nvcc's bin, else /usr/local/cuda)
#   CUDA_ARCH=.. GPU architectures to build for, e.g. "80 90" (default: 75 80 86 89 90, those of them
#                the installed nvcc supports - CUDA 13 dropped Volta's 70 - plus PTX of the newest, so
#                later GPUs such as Blackwell run it through the driver's JIT)
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
# Little CMS (optional): inputs' colour profiles converted to sRGB, outputs tagged sRGB; without it
# profiles are ignored with a notice
LCMS_VERSION := $(shell pkg-config --modversion lcms2 2>/dev/null)
ifneq ($(LCMS_VERSION),)
PKG_CFLAGS += -DTS_HAVE_LCMS2 $(shell pkg-config --cflags lcms2)
PKG_LIBS   += $(shell pkg-config --libs lcms2)
endif

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

# ---- CUDA: nvcc compiles src/backend/cuda*.cu; mpicc links them with -lcudart -lcublas ----
NVCC_FOUND := $(shell command -v nvcc 2>/dev/null)
ifeq ($(NVCC_FOUND),)
NVCC_FOUND := $(wildcard $(or $(CUDA_HOME),/usr/local/cuda)/bin/nvcc)
endif
CUDA_HOME ?= $(if $(NVCC_FOUND),$(patsubst %/bin/,%,$(dir $(NVCC_FOUND))),/usr/local/cuda)
NVCC      ?= $(or $(NVCC_FOUND),nvcc)
CUDA      ?= $(if $(NVCC_FOUND),1,0)
ifeq ($(filter 0 1,$(CUDA)),)
$(error CUDA must be 0 or 1, not "$(CUDA)" (is CUDA set in the environment? use CUDA_HOME for the toolkit))
endif
ifeq ($(CUDA),1)
ifeq ($(NVCC_FOUND),)
ifeq ($(wildcard $(NVCC)),)
$(error CUDA=1 but no nvcc found (PATH or $(CUDA_HOME)/bin); install the CUDA toolkit or build with CUDA=0)
endif
endif
# the widest default the installed nvcc still supports (Turing .. Hopper; Volta where nvcc < 13)
CUDA_ARCH_WANTED := 70 75 80 86 89 90
CUDA_ARCH_KNOWN  := $(patsubst compute_%,%,$(shell $(NVCC) --list-gpu-arch 2>/dev/null))
CUDA_ARCH ?= $(or $(filter $(CUDA_ARCH_KNOWN),$(CUDA_ARCH_WANTED)),75 80 86 89 90)
CUDA_PTX  := $(lastword $(sort $(CUDA_ARCH)))
NVCCFLAGS := -std=c++17 -Iinclude -MMD -MP -Xcompiler -Wall,-Wextra,-fPIC -lineinfo \
             $(foreach a,$(CUDA_ARCH),-gencode arch=compute_$(a),code=sm_$(a)) \
             -gencode arch=compute_$(CUDA_PTX),code=compute_$(CUDA_PTX)
ifeq ($(DEBUG),1)
NVCCFLAGS += -O0 -g
else
NVCCFLAGS += -O2
endif
CUDA_SRCS := $(sort $(wildcard src/backend/cuda*.cu))
CUDA_LIB  := $(CUDA_HOME)/lib64
else
CUDA_SRCS :=
endif
CUDA_OBJS := $(CUDA_SRCS:%.cu=$(BUILD)/%.o)
# The CUDA backend is a shared object the program opens on first use (src/backend/device_plugin.h): the
# binary is not linked with the CUDA libraries, so CPU runs do not load them. make installs it beside
# the binary as $(BIN)-cuda.so; the build folder's copy serves the test programs.
CUDA_PLUGIN     := $(BUILD)/libtessera-cuda.so
CUDA_PLUGIN_BIN := $(if $(CUDA_SRCS),$(BIN)-cuda.so)
LDLIBS    += -ldl
# objects that depend on the CUDA switches are rebuilt when they change
CUDA_STAMP := $(BUILD)/cuda.stamp
CUDA_CONF  := CUDA=$(CUDA) $(if $(filter 1,$(CUDA)),ARCH=$(CUDA_ARCH) NVCC=$(NVCC))
$(shell mkdir -p $(BUILD) && { [ "$$(cat $(CUDA_STAMP) 2>/dev/null)" = "$(CUDA_CONF)" ] || echo "$(CUDA_CONF)" >$(CUDA_STAMP); })

SRCS      := $(shell find src -name '*.c' | sort)
MAIN_SRC  := src/app/main.c
LIB_SRCS  := $(filter-out $(MAIN_SRC),$(SRCS))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
MAIN_OBJ  := $(MAIN_SRC:%.c=$(BUILD)/%.o)
TEST_SRCS := $(sort $(wildcard tests/test_*.c))
TEST_BINS := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)

.PHONY: all test check-deps clean tools
all: check-deps $(BIN) $(CUDA_PLUGIN_BIN)

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
	if [ -n "$(LCMS_VERSION)" ]; then echo "  lcms2    : $(LCMS_VERSION) (colour profiles)"; \
	else echo "  lcms2    : not found: colour profiles are ignored (apt-get install liblcms2-dev)"; fi; \
	if [ "$(CUDA)" = 1 ]; then echo "  CUDA     : $(NVCC) ($$($(NVCC) --version | tail -1)); CUDA backend $(BIN)-cuda.so for sm $(CUDA_ARCH) + PTX $(CUDA_PTX)"; \
	elif [ -n "$(NVCC_FOUND)" ]; then echo "  CUDA     : off (CUDA=0); CPU backend only"; \
	else echo "  CUDA     : no nvcc (PATH or $(CUDA_HOME)/bin): CPU backend only"; fi; \
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

$(BUILD)/%.o: %.cu $(CUDA_STAMP)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCCFLAGS) -c $< -o $@

$(CUDA_PLUGIN): $(CUDA_OBJS)
	$(CXX) -shared -Wl,-Bsymbolic -o $@ $^ -L$(CUDA_LIB) -Wl,-rpath,$(CUDA_LIB) -lcublas -lcudart

$(CUDA_PLUGIN_BIN): $(CUDA_PLUGIN)
	@mkdir -p $(dir $@)
	cp $< $@

$(BUILD)/src/backend/devices.o: $(CUDA_STAMP)
ifeq ($(CUDA),1)
$(BUILD)/src/backend/devices.o: CFLAGS += -DTS_CUDA_PLUGIN_PATH='"$(abspath $(CUDA_PLUGIN))"'
endif

# tests may include a module's private header (test_winograd.c: src/backend/cpu_winograd.h)
$(BUILD)/tests/%: tests/%.c $(BUILD)/libtessera.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -Isrc/backend -o $@ $< $(BUILD)/libtessera.a $(LDLIBS)

$(BUILD)/tools/%: tests/tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)

# ---- the CUDA backend's source run on the CPU (tests/cuda_emu), for checking it without a GPU: the
# same .cu files built with g++ into $(EMU_PLUGIN), which any tessera binary loads when
# TESSERA_CUDA_PLUGIN names it (t_cuda.sh), and build/tests/test_cuda_emu (test_cuda.c set to load
# it). Needs only a C++17 compiler, not nvcc.
CXX_FOUND := $(shell command -v $(CXX) 2>/dev/null)
EMU_DIR   := $(BUILD)/cuda-emu
EMU_OBJS  := $(patsubst src/backend/%.cu,$(EMU_DIR)/%.o,$(sort $(wildcard src/backend/cuda*.cu)))
EMU_PLUGIN := $(EMU_DIR)/libtessera-cuda-emu.so
EMU_SAN   := $(filter -fsanitize=% -fno-omit-frame-pointer,$(CFLAGS))
EMU_CXXFLAGS := -std=c++17 -O2 -g -fPIC -Wall -Wextra -Itests/cuda_emu -Iinclude -MMD -MP \
                -DTS_CUDA_COL_BUDGET_FLOATS=65536 $(EMU_SAN)
EMU_BINS  := $(if $(CXX_FOUND),$(BUILD)/tests/test_cuda_emu $(EMU_PLUGIN))

$(EMU_DIR)/%.o: src/backend/%.cu tests/cuda_emu/cuda_runtime.h tests/cuda_emu/cublas_v2.h
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_CXXFLAGS) -x c++ -c $< -o $@

$(EMU_PLUGIN): $(EMU_OBJS)
	$(CXX) -shared -Wl,-Bsymbolic $(EMU_SAN) -o $@ $^

$(BUILD)/tests/test_cuda_emu: tests/test_cuda.c $(EMU_PLUGIN) $(BUILD)/libtessera.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -DTS_TEST_CUDA_PLUGIN='"$(abspath $(EMU_PLUGIN))"' -o $@ $< $(BUILD)/libtessera.a $(LDLIBS)

TOOLS := $(BUILD)/tools/refcheck $(EMU_BINS)
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
ifeq ($(wildcard include/tessera/batch_job.h),)
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

-include $(LIB_OBJS:.o=.d) $(MAIN_OBJ:.o=.d) $(CUDA_OBJS:.o=.d) $(EMU_OBJS:.o=.d) $(FUZZ_OBJS:.o=.d) $(FUZZ_BINS:=.d)
