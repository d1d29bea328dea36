# shellcheck shell=bash disable=SC2034
# sites.sh - site settings for Tessera's SLURM scripts, one profile per cluster.
#
# Chosen with TESSERA_SITE=NAME (or the wrappers' --site NAME); default "generic". A copy of this file
# elsewhere can be used with TESSERA_SITE_FILE=/path/to/sites.sh. Sourced by slurm/submit*.sh (which
# turn the settings into sbatch options) and by the *.sbatch scripts (modules, launcher, threads).
#
# What a profile sets (empty = not passed to sbatch, so the cluster's own default applies):
#   partition_gpu, partition_cpu  partitions for GPU and CPU jobs (--partition)
#   partition_small               partition for the one-task summary job
#   account                       --account; TESSERA_ACCOUNT in the environment fills it in
#   account_required              yes: the wrappers refuse to submit without an account
#   gres_gpu                      generic resources of a GPU job, e.g. gpu:v100:4 (--gres)
#   tasks_gpu                     ranks per node in a GPU job: one per GPU (--ntasks-per-node)
#   tasks_cpu                     ranks per node in a CPU job (--ntasks-per-node)
#   cpus_gpu, cpus_cpu            cores per rank (--cpus-per-task; also OMP_NUM_THREADS in the job)
#   time                          default time limit (--time)
#   throttle                      array tasks running at once in a sweep (--array=0-N%throttle)
#   modules                       environment modules loaded in the job before running
#   launcher                      how ranks start inside the allocation: "srun --mpi=pmix",
#                                 "srun --mpi=pmi2", "mpirun", "ibrun", or "auto" (srun --mpi=pmix
#                                 when this Slurm has the pmix plugin, else mpirun)
#   extra_gpu, extra_cpu          any further sbatch options, space-separated
#
# sbatch options given on the wrappers' command line come after these and win (for sbatch the last
# occurrence of an option counts); see slurm/README.md.

site_profile() {
    # defaults shared by every profile; each profile below overrides what differs
    partition_gpu="" partition_cpu="" partition_small=""
    account=${TESSERA_ACCOUNT:-} account_required=no
    gres_gpu="" tasks_gpu="" tasks_cpu="" cpus_gpu=1 cpus_cpu=1
    time=01:00:00 throttle=4 modules="" launcher=auto extra_gpu="" extra_cpu=""

    case ${1:-generic} in
    generic)
        # Any Slurm: the default partition, no account, no GPUs requested, one rank of one core.
        # Runs unchanged on a single-node CPU-only cluster (what tests/t_slurm.sh starts).
        ;;
    comet)
        # Like SDSC Comet: 24-core compute nodes; GPU nodes with 4 K80 or 4 P100; "gpu" gives whole
        # nodes, "gpu-shared" single GPUs; "shared" single cores. Open MPI over InfiniBand, started
        # with ibrun.
        partition_gpu=gpu partition_cpu=compute partition_small=shared
        gres_gpu=gpu:p100:4 tasks_gpu=4 cpus_gpu=6
        tasks_cpu=4 cpus_cpu=6
        time=02:00:00 throttle=8
        modules="gnu openmpi_ib cuda"
        launcher=ibrun
        ;;
    comet-k80)
        # The same cluster's K80 nodes.
        site_profile comet
        gres_gpu=gpu:k80:4
        return 0
        ;;
    expanse)
        # Like SDSC Expanse: 128-core compute nodes ("compute" whole nodes, "shared" cores), GPU
        # nodes with 4 V100 ("gpu" whole nodes, "gpu-shared"); every job must name an allocation.
        partition_gpu=gpu partition_cpu=compute partition_small=shared
        account_required=yes
        gres_gpu=gpu:v100:4 tasks_gpu=4 cpus_gpu=10
        tasks_cpu=16 cpus_cpu=8
        time=02:00:00 throttle=16
        modules="gpu openmpi cuda"
        launcher="srun --mpi=pmi2"
        ;;
    *)
        echo "tessera: error: unknown site profile '$1' (generic, comet, comet-k80, expanse)" >&2
        return 2
        ;;
    esac
    return 0
}
