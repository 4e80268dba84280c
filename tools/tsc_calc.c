/* tsc_calc: the guest time-data adjustment of a live migration, worked out
 * by hand, so an operator can check what a daemon reported or predict what
 * a migration of a given downtime does to a guest's TSC and boot time. */
#include <stdio.h>
#include <stdlib.h>

#include <glib.h>

#include "exit_codes.h"
#include "tsc.h"

/* One numeric option: the text as given and, once parsed, its value. */
typedef struct {
    const char *name;
    char *text;
    gboolean set;
    guint64 value;
} NumArg;

enum {
    ARG_GUEST_HZ,
    ARG_GUEST_TSC,
    ARG_SRC_HRTIME,
    ARG_SRC_BOOT_HRTIME,
    ARG_DST_HRTIME,
    ARG_DELTA_NS,
    ARG_SRC_WALL_NS,
    ARG_DST_WALL_NS,
    ARG_HOST_HZ,
    N_ARGS,
};

typedef struct {
    NumArg args[N_ARGS];
    int failures;
} Calc;

static void print_u64(const char *label, guint64 v)
{
    printf("%-22s %" G_GUINT64_FORMAT " (0x%" G_GINT64_MODIFIER "x)\n", label,
           v, v);
}

static void report_failure(Calc *calc, const char *label, const GError *err)
{
    printf("%-22s error: %s\n", label, err->message);
    calc->failures++;
}

static gboolean parse_args(Calc *calc, GError **error)
{
    int i;

    for (i = 0; i < N_ARGS; i++) {
        NumArg *a = &calc->args[i];
        g_autoptr(GError) perr = NULL;

        if (!a->text)
            continue;
        if (!tsc_parse_u64(a->text, TRUE, &a->value, &perr)) {
            g_set_error(error, TSC_ERROR, TSC_ERROR_INVALID, "--%s: %s",
                        a->name, perr->message);
            return FALSE;
        }
        a->set = TRUE;
    }
    return TRUE;
}

static gboolean have(const Calc *calc, int which)
{
    return calc->args[which].set;
}

static guint64 val(const Calc *calc, int which)
{
    return calc->args[which].value;
}

static void print_multipliers(Calc *calc)
{
    static const TscMultFormat fmts[] = {TSC_MULT_AMD, TSC_MULT_INTEL};
    static const char *const labels[] = {"amd_multiplier_8_32",
                                         "intel_multiplier_16_48"};
    gsize i;

    for (i = 0; i < G_N_ELEMENTS(fmts); i++) {
        g_autoptr(GError) err = NULL;
        guint64 mult = 0;

        if (!tsc_freq_multiplier(val(calc, ARG_GUEST_HZ),
                                 val(calc, ARG_HOST_HZ), fmts[i], &mult,
                                 &err)) {
            report_failure(calc, labels[i], err);
            continue;
        }
        printf("%-22s %" G_GUINT64_FORMAT " (0x%" G_GINT64_MODIFIER
               "x, ratio %.9f)\n",
               labels[i], mult, mult, tsc_multiplier_ratio(mult, fmts[i]));
    }
}

/* Prints every value the given inputs determine, in dependency order. */
static int calculate(Calc *calc, GError **error)
{
    gboolean have_delta = FALSE;
    gboolean have_uptime = FALSE;
    gboolean have_ticks = FALSE;
    gboolean printed = FALSE;
    guint64 delta = 0;
    guint64 uptime = 0;
    guint64 ticks = 0;
    guint64 out = 0;

    if (have(calc, ARG_DELTA_NS) &&
        (have(calc, ARG_SRC_WALL_NS) || have(calc, ARG_DST_WALL_NS))) {
        g_set_error(error, TSC_ERROR, TSC_ERROR_INVALID,
                    "give either --delta-ns or --src-wall-ns with "
                    "--dst-wall-ns, not both");
        return EXIT_USAGE;
    }
    if (have(calc, ARG_SRC_WALL_NS) != have(calc, ARG_DST_WALL_NS)) {
        g_set_error(error, TSC_ERROR, TSC_ERROR_INVALID,
                    "--src-wall-ns and --dst-wall-ns go together");
        return EXIT_USAGE;
    }
    if (have(calc, ARG_SRC_HRTIME) != have(calc, ARG_SRC_BOOT_HRTIME)) {
        g_set_error(error, TSC_ERROR, TSC_ERROR_INVALID,
                    "--src-hrtime and --src-boot-hrtime go together");
        return EXIT_USAGE;
    }
    if (have(calc, ARG_HOST_HZ) && !have(calc, ARG_GUEST_HZ)) {
        g_set_error(error, TSC_ERROR, TSC_ERROR_INVALID,
                    "--host-hz needs --guest-hz");
        return EXIT_USAGE;
    }

    if (have(calc, ARG_GUEST_HZ)) {
        print_u64("guest_hz", val(calc, ARG_GUEST_HZ));
        printed = TRUE;
    }

    if (have(calc, ARG_DELTA_NS)) {
        delta = val(calc, ARG_DELTA_NS);
        have_delta = TRUE;
    } else if (have(calc, ARG_SRC_WALL_NS)) {
        gboolean clamped = FALSE;

        delta = tsc_migration_delta_ns(val(calc, ARG_SRC_WALL_NS),
                                       val(calc, ARG_DST_WALL_NS), &clamped);
        have_delta = TRUE;
        if (clamped)
            printf("%-22s destination wall clock is behind the source's; "
                   "delta clamped to 0\n",
                   "note");
    }
    if (have_delta) {
        print_u64("migration_delta_ns", delta);
        printed = TRUE;
    }

    if (have(calc, ARG_SRC_HRTIME)) {
        g_autoptr(GError) err = NULL;

        if (tsc_guest_uptime_ns(val(calc, ARG_SRC_HRTIME),
                                val(calc, ARG_SRC_BOOT_HRTIME), &uptime,
                                &err)) {
            print_u64("guest_uptime_ns", uptime);
            have_uptime = TRUE;
        } else {
            report_failure(calc, "guest_uptime_ns", err);
        }
        printed = TRUE;
    }

    if (have_delta && have(calc, ARG_GUEST_HZ)) {
        g_autoptr(GError) err = NULL;

        if (tsc_ticks_for_ns(delta, val(calc, ARG_GUEST_HZ), &ticks, &err)) {
            print_u64("tsc_delta", ticks);
            have_ticks = TRUE;
        } else {
            report_failure(calc, "tsc_delta", err);
        }
    }

    if (have_ticks && have(calc, ARG_GUEST_TSC)) {
        g_autoptr(GError) err = NULL;

        print_u64("guest_tsc", val(calc, ARG_GUEST_TSC));
        if (tsc_advance(val(calc, ARG_GUEST_TSC), ticks, &out, &err))
            print_u64("new_guest_tsc", out);
        else
            report_failure(calc, "new_guest_tsc", err);
    }

    if (have_uptime && have_delta && have(calc, ARG_DST_HRTIME)) {
        g_autoptr(GError) err = NULL;

        if (tsc_new_boot_hrtime(val(calc, ARG_DST_HRTIME), uptime, delta, &out,
                                &err))
            print_u64("new_boot_hrtime", out);
        else
            report_failure(calc, "new_boot_hrtime", err);
    }

    if (have(calc, ARG_HOST_HZ)) {
        print_multipliers(calc);
        printed = TRUE;
    }

    if (!printed) {
        g_set_error(error, TSC_ERROR, TSC_ERROR_INVALID,
                    "nothing to calculate: give at least --guest-hz, "
                    "--delta-ns, the wall clocks or the source hrtimes");
        return EXIT_USAGE;
    }
    return calc->failures ? EXIT_RUNTIME : EXIT_OK;
}

int main(int argc, char **argv)
{
    Calc calc = {
        .args =
            {
                [ARG_GUEST_HZ] = {.name = "guest-hz"},
                [ARG_GUEST_TSC] = {.name = "guest-tsc"},
                [ARG_SRC_HRTIME] = {.name = "src-hrtime"},
                [ARG_SRC_BOOT_HRTIME] = {.name = "src-boot-hrtime"},
                [ARG_DST_HRTIME] = {.name = "dst-hrtime"},
                [ARG_DELTA_NS] = {.name = "delta-ns"},
                [ARG_SRC_WALL_NS] = {.name = "src-wall-ns"},
                [ARG_DST_WALL_NS] = {.name = "dst-wall-ns"},
                [ARG_HOST_HZ] = {.name = "host-hz"},
            },
    };
    GOptionEntry entries[] = {
        {"guest-hz", 0, 0, G_OPTION_ARG_STRING, &calc.args[ARG_GUEST_HZ].text,
         "Guest TSC frequency", "HZ"},
        {"guest-tsc", 0, 0, G_OPTION_ARG_STRING, &calc.args[ARG_GUEST_TSC].text,
         "Guest TSC value at capture", "TICKS"},
        {"src-hrtime", 0, 0, G_OPTION_ARG_STRING,
         &calc.args[ARG_SRC_HRTIME].text,
         "Source host's monotonic time at capture", "NS"},
        {"src-boot-hrtime", 0, 0, G_OPTION_ARG_STRING,
         &calc.args[ARG_SRC_BOOT_HRTIME].text,
         "Source host's monotonic time at guest boot", "NS"},
        {"dst-hrtime", 0, 0, G_OPTION_ARG_STRING,
         &calc.args[ARG_DST_HRTIME].text,
         "Destination host's monotonic time at restore", "NS"},
        {"delta-ns", 0, 0, G_OPTION_ARG_STRING, &calc.args[ARG_DELTA_NS].text,
         "Wall-clock time the migration took", "NS"},
        {"src-wall-ns", 0, 0, G_OPTION_ARG_STRING,
         &calc.args[ARG_SRC_WALL_NS].text,
         "Source wall clock at capture (instead of --delta-ns)", "NS"},
        {"dst-wall-ns", 0, 0, G_OPTION_ARG_STRING,
         &calc.args[ARG_DST_WALL_NS].text,
         "Destination wall clock at restore (instead of --delta-ns)", "NS"},
        {"host-hz", 0, 0, G_OPTION_ARG_STRING, &calc.args[ARG_HOST_HZ].text,
         "Destination host TSC frequency, for the scaling multipliers", "HZ"},
        {NULL},
    };
    g_autoptr(GOptionContext) ctx = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *exits = exit_codes_help();
    g_autofree char *description = NULL;
    int rc = EXIT_USAGE;
    int i;

    ctx = g_option_context_new("- guest TSC and boot time after a migration");
    g_option_context_add_main_entries(ctx, entries, NULL);
    description = g_strdup_printf(
        "Numbers are decimal, or hexadecimal with a 0x prefix.\n"
        "\n"
        "Prints each value the inputs determine, one per line as\n"
        "NAME DECIMAL (0xHEX):\n"
        "  migration_delta_ns  --delta-ns, or dst - src wall clock (0 if "
        "negative)\n"
        "  guest_uptime_ns     src-hrtime - src-boot-hrtime\n"
        "  tsc_delta           delta-ns * guest-hz / 1e9, truncated\n"
        "  new_guest_tsc       guest-tsc + tsc_delta\n"
        "  new_boot_hrtime     dst-hrtime - (guest_uptime_ns + delta)\n"
        "  amd_multiplier_8_32, intel_multiplier_16_48\n"
        "                      guest-hz / host-hz in fixed point\n"
        "\n"
        "A value that over- or underflows, or a ratio that does not fit "
        "a multiplier\nformat, is status 1; the others are still "
        "printed.\n%s\n",
        exits);
    g_option_context_set_description(ctx, description);

    if (!g_option_context_parse(ctx, &argc, &argv, &error)) {
        fprintf(stderr, "tsc_calc: %s\n", error->message);
        goto cleanup;
    }
    if (argc > 1) {
        fprintf(stderr, "tsc_calc: unexpected argument '%s'\n", argv[1]);
        goto cleanup;
    }
    if (!parse_args(&calc, &error)) {
        fprintf(stderr, "tsc_calc: %s\n", error->message);
        goto cleanup;
    }

    rc = calculate(&calc, &error);
    if (error)
        fprintf(stderr, "tsc_calc: %s\n", error->message);

cleanup:
    for (i = 0; i < N_ARGS; i++)
        g_free(calc.args[i].text);
    return rc;
}
