/* reproduce_robust.h — `digitnet reproduce --experiment robust`: attacks ×
 * defences × malicious fractions in federated training, and the report of
 * who survives what (see reproduce_robust.c). */
#ifndef DN_REPRODUCE_ROBUST_H
#define DN_REPRODUCE_ROBUST_H

#include "cli.h"

#define ROBUST_ATTACKS "label-flip,sign-flip,scale:10,gaussian,alie,ipm,nan,zero,random"
#define ROBUST_DEFENCES "mean,median,trimmed-mean,multi-krum,clip,fltrust,mean+detect"
#define ROBUST_FRACTIONS "0.1,0.2,0.3"
#define ROBUST_PARTITIONS "iid,dirichlet:0.5"
#define ROBUST_ROUNDS 50
#define ROBUST_ROUNDS_TEXT "50"
#define ROBUST_QUICK_ROUNDS 20
#define ROBUST_QUICK_ROUNDS_TEXT "20"

/* The command, argv[0] "reproduce"; returns the exit code. */
int reproduce_robust_main(int argc, char **argv);

#endif /* DN_REPRODUCE_ROBUST_H */
