#include "estimate.h"

#include <math.h>

/* Weight of a new sample.  Loads on TCG guests wobble by about 5 points
 * from tick to tick; averaging over about six ticks cuts that wobble to
 * less than half, and changes larger than a step skip the average. */
#define LOAD_ALPHA 0.3

/* Weight of a new sample in the learned wobble, and the wobble assumed
 * before any was seen. */
#define DEV_BETA 0.25
#define DEV_START 2.0

/* Standard deviation over mean absolute deviation, for normal noise. */
#define SD_PER_MAD 1.25

/* A change of three times the learned wobble is a new load, not noise;
 * an idle guest wobbles little, so a light load starting on it is taken
 * at once (a 10% burner must not read as 4%).  Never less than the floor,
 * never more than the ceiling, so very noisy loads still show steps. */
#define STEP_WOBBLES 3.0
#define STEP_FLOOR 4.0
#define STEP_CEILING 25.0

double vcpu_demand(double ran, double waited)
{
    double upper;
    double d;

    ran = CLAMP(ran, 0, 100);
    waited = CLAMP(waited, 0, 100);
    upper = MIN(100, ran + waited);
    if (waited >= 100 - 1e-6)
        return upper;
    d = 100 * ran / (100 - waited);
    return CLAMP(d, ran, upper);
}

gboolean load_estimate_feed(LoadEstimate *e, double sample)
{
    gboolean step;
    double diff;
    double limit;

    if (!e->valid) {
        e->dev = DEV_START;
        e->restart = TRUE;
    }
    if (e->restart) {
        e->value = sample;
        e->valid = TRUE;
        e->restart = FALSE;
        e->samples = 1;
        return FALSE;
    }
    diff = fabs(sample - e->value);
    limit = CLAMP(STEP_WOBBLES * SD_PER_MAD * e->dev, STEP_FLOOR, STEP_CEILING);
    step = diff > limit;
    /* Clipped, so a real step teaches a little wobble, not its size. */
    e->dev = DEV_BETA * MIN(diff, limit) + (1 - DEV_BETA) * e->dev;
    if (step) {
        e->value = sample;
        e->samples = 1;
        return TRUE;
    }
    e->value = LOAD_ALPHA * sample + (1 - LOAD_ALPHA) * e->value;
    e->samples++;
    return FALSE;
}

double load_estimate_sigma(const LoadEstimate *e)
{
    double steady = sqrt(LOAD_ALPHA / (2 - LOAD_ALPHA));
    double factor;

    if (!e->valid)
        return 0;
    /* An average of few samples is as good as its count allows; once the
     * count is high, the exponential average's own spread is the limit. */
    factor = MAX(steady, 1 / sqrt((double)MAX(e->samples, 1u)));
    return SD_PER_MAD * e->dev * factor;
}
