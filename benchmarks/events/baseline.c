// Baseline for the event-bus benchmark: the same steps as bench-events, on libnats directly.
// Prints one line per measure as `name value unit`, which benchmarks/events/run turns into ratios.
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, natsStatus s) {
    fprintf(stderr, "baseline: %s: %s\n", what, natsStatus_GetText(s));
    exit(1);
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: baseline URL SYNC_N BATCH_N LATENCY_N\n"); return 2; }
    const char *url = argv[1];
    int syncN = atoi(argv[2]), batchN = atoi(argv[3]), latencyN = atoi(argv[4]);
    char payload[171];
    memset(payload, 'x', 170);
    payload[170] = 0;

    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    natsStatus s = natsConnection_ConnectTo(&nc, url);
    if (s != NATS_OK) die("connect", s);
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = 256;
    if ((s = natsConnection_JetStream(&js, nc, &jo)) != NATS_OK) die("context", s);

    const char *subjects[] = {"bench.c"};
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = "BENCH_C";
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    sc.Duplicates = 120LL * 1000000000LL;
    jsErrCode jerr = 0;
    if ((s = js_AddStream(NULL, js, &sc, NULL, &jerr)) != NATS_OK) die("stream", s);

    char id[64];
    jsPubOptions po;
    double start = now();
    for (int i = 0; i < syncN; i++) {
        jsPubOptions_Init(&po);
        snprintf(id, sizeof id, "sync-%d", i);
        po.MsgId = id;
        if ((s = js_Publish(NULL, js, "bench.c", payload, 170, &po, &jerr)) != NATS_OK) die("publish", s);
    }
    printf("publish_sync %.0f msg/s\n", syncN / (now() - start));

    start = now();
    for (int i = 0; i < batchN; i++) {
        jsPubOptions_Init(&po);
        snprintf(id, sizeof id, "batch-%d", i);
        po.MsgId = id;
        if ((s = js_PublishAsync(js, "bench.c", payload, 170, &po)) != NATS_OK) die("publish async", s);
        if ((i + 1) % 256 == 0 || i + 1 == batchN) {
            jsPubOptions_Init(&po);
            po.MaxWait = 10000;
            if ((s = js_PublishAsyncComplete(js, &po)) != NATS_OK) die("complete", s);
        }
    }
    printf("publish_batch %.0f msg/s\n", batchN / (now() - start));

    natsSubscription *sub = NULL;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = "BENCH_C";
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.MaxAckPending = 100000;
    if ((s = js_PullSubscribe(&sub, js, "bench.c", "bench-c", NULL, &so, &jerr)) != NATS_OK) die("subscribe", s);
    int total = syncN + batchN, got = 0;
    start = now();
    while (got < total) {
        natsMsgList list;
        s = natsSubscription_Fetch(&list, sub, 256, 5000, &jerr);
        if (s != NATS_OK) die("fetch", s);
        for (int i = 0; i < list.Count; i++) natsMsg_Ack(list.Msgs[i], NULL);
        got += list.Count;
        natsMsgList_Destroy(&list);
    }
    printf("consume %.0f msg/s\n", total / (now() - start));

    double *samples = malloc(sizeof(double) * latencyN);
    for (int i = 0; i < latencyN; i++) {
        jsPubOptions_Init(&po);
        snprintf(id, sizeof id, "lat-%d", i);
        po.MsgId = id;
        double t0 = now();
        if ((s = js_Publish(NULL, js, "bench.c", payload, 170, &po, &jerr)) != NATS_OK) die("publish", s);
        natsMsgList list;
        if ((s = natsSubscription_Fetch(&list, sub, 1, 5000, &jerr)) != NATS_OK) die("fetch", s);
        samples[i] = (now() - t0) * 1000;
        for (int j = 0; j < list.Count; j++) natsMsg_Ack(list.Msgs[j], NULL);
        natsMsgList_Destroy(&list);
    }
    qsort(samples, latencyN, sizeof(double), compare);
    printf("latency_p50 %.3f ms\n", samples[latencyN / 2]);
    printf("latency_p99 %.3f ms\n", samples[(int)(latencyN * 0.99)]);

    natsSubscription_Destroy(sub);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return 0;
}
