# mpi_env.sh — sourced by the tests that start MPI jobs: mpirun as root and with
# more ranks than cores (the machine has two), through the environment rather than
# mpirun flags, and no leak reports under ASan for Open MPI's own allocations.
# dn_mpi_one_thread: one BLAS/OpenMP thread per rank, as the ranks share the cores.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
dn_mpi_one_thread() { export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1; }
