/* mlp_job.c — train a network as one job of K processes (mpirun -np K, or
 * alone), saving a checkpoint after every epoch and resuming from it when it
 * exists, then draw the loss of the epochs this start ran as an SVG chart.
 * A job stopped after STOP_AFTER epochs and started again ends with the
 * same network, bit for bit, as one that never stopped.
 *
 *   usage: [mpirun -np K] mlp_job MNIST_DIR CHECKPOINT CHART.svg [TRAIN_SIZE [EPOCHS [STOP_AFTER]]]
 *   build: cc mlp_job.c $(pkg-config --cflags --libs digitnet_dist digitnet_plot digitnet) -o mlp_job
 */
#include <stdio.h>
#include <stdlib.h>

#include <digitnet_dist.h>
#include <digitnet_plot.h>

typedef struct progress {
    int stop_after, ran;
    double step[256], loss[256];
} progress;

/* After each epoch, on every rank: rank 0 keeps the loss for the chart. */
static int on_step(const dn_mlp_run_report *r, void *user)
{
    progress *p = user;
    if (r->rank == 0 && p->ran < 256) {
        p->step[p->ran] = r->step, p->loss[p->ran++] = r->epoch->train_loss;
        printf("epoch %d  loss %.4f\n", r->step, r->epoch->train_loss);
    }
    return p->stop_after > 0 && r->step >= p->stop_after; /* the same on every rank */
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 7) {
        fprintf(stderr, "usage: %s MNIST_DIR CHECKPOINT CHART.svg [TRAIN_SIZE [EPOCHS [STOP_AFTER]]]\n", argv[0]);
        return 2;
    }
    progress p = {.stop_after = argc > 6 ? atoi(argv[6]) : 0};
    dn_error err = {0};
    dn_comm *comm = dn_comm_init(&err); /* MPI_Init; alone: a job of one */
    dn_dataset *train = NULL;
    dn_mlp *mlp = NULL;
    dn_mlp_run *run = NULL;
    dn_mlp_options opt;
    dn_mlp_options_default(&opt);
    opt.epochs = argc > 5 ? atoi(argv[5]) : 3;
    dn_mlp_run_options ro;
    dn_mlp_run_options_default(&ro);
    ro.deterministic = 1; /* rank-order sums: resuming gives the same bits */
    ro.checkpoint.path = argv[2];
    FILE *saved = fopen(argv[2], "rb");
    ro.checkpoint.resume = saved ? argv[2] : NULL; /* a checkpoint there: go on from it */
    if (saved) fclose(saved);
    ro.on_step = on_step, ro.user = &p, ro.dist.comm = comm;

    int ok = comm && (train = dn_mnist_load(argv[1], "train", &err));
    size_t n = ok && argc > 4 ? strtoul(argv[4], NULL, 10) : ok ? train->count : 0;
    dn_dataset subset = ok ? dn_dataset_view(train, 0, n < train->count ? n : train->count) : (dn_dataset){0};
    ok = ok && (mlp = dn_mlp_create(&opt, &err)) && (run = dn_mlp_run_create(mlp, &ro, &subset, &err)) &&
         !dn_mlp_run_resume(run, &err) && !dn_mlp_run_train(run, &err);
    int rank = comm ? dn_comm_rank(comm) : 0;
    if (ok && rank == 0) {
        printf("%d of %d epochs done, checkpoint %s\n", dn_mlp_run_steps_done(run), dn_mlp_run_steps_total(run),
               argv[2]);
        dn_plot_series loss = {.label = "training loss", .x = p.step, .y = p.loss, .n = (size_t)p.ran};
        ok = !dn_plot_lines(argv[3], "MLP training", "epoch", "mean loss", &loss, 1, NULL, &err);
    }
    if (!ok) fprintf(stderr, "mlp_job (rank %d): %s\n", rank, err.message);

    dn_mlp_run_free(run);
    dn_mlp_free(mlp);
    dn_dataset_free(train);
    dn_comm_free(comm); /* MPI_Finalize */
    return ok ? 0 : 1;
}
