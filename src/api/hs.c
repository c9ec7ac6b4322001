#include "api/hs.h"

#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/uia.h"
#include "api/oidc.h"
#include "core/config.h"
#include "core/mailer.h"
#include "core/password.h"
#include "core/util.h"
#include "http/ratelimit.h"
#include "sync/evcache.h" /* sync speed (issue 4) */

static struct ratelimit *
rl(const struct config_ratelimit *c)
{
    return ratelimit_new(c->per_second, c->burst_count);
}

void
hs_init(struct hs *hs, const struct config *cfg)
{
    char *pw = util_random_token(16);

    hs->cfg = cfg;
    hs->rl_message = rl(&cfg->rc_message);
    hs->rl_registration = rl(&cfg->rc_registration);
    hs->rl_login_address = rl(&cfg->rc_login_address);
    hs->rl_login_account = rl(&cfg->rc_login_account);
    hs->rl_login_failed = rl(&cfg->rc_login_failed_attempts);
    hs->uia = uia_new();
    hs->admin_nonces = synapse_admin_nonces_new();
    hs->dummy_password_hash = password_hash(pw);
    free(pw);
    /* issue 10 */
    hs->rl_3pid_ip = rl(&cfg->rc_3pid_validation);
    hs->rl_3pid_target = rl(&cfg->rc_3pid_validation);
    if (cfg->email_enabled) {
        struct mailer_config mc = {
            .smtp_host = cfg->email_smtp_host,
            .smtp_port = cfg->email_smtp_port,
            .smtp_user = cfg->email_smtp_user,
            .smtp_pass = cfg->email_smtp_pass,
            .require_transport_security = cfg->email_require_transport_security,
            .enable_tls = cfg->email_enable_tls,
            .force_tls = cfg->email_force_tls,
            .timeout_ms = 30000,
        };
        hs->mailer = mailer_new(&mc);
    }
    hs->oidc = oidc_new(cfg);
    /* sync speed (issue 4): formatted events, about 16 recent ones for each of 1,000 rooms */
    hs->evcache = evcache_new((size_t)cfg->event_cache_size);
}

void
hs_cleanup(struct hs *hs)
{
    ratelimit_free(hs->rl_message);
    ratelimit_free(hs->rl_registration);
    ratelimit_free(hs->rl_login_address);
    ratelimit_free(hs->rl_login_account);
    ratelimit_free(hs->rl_login_failed);
    uia_free(hs->uia);
    synapse_admin_nonces_free(hs->admin_nonces);
    free(hs->dummy_password_hash);
    mailer_free(hs->mailer);
    ratelimit_free(hs->rl_3pid_ip);
    ratelimit_free(hs->rl_3pid_target);
    oidc_free(hs->oidc);
    evcache_free(hs->evcache); /* sync speed (issue 4) */
    signing_key_wipe(&hs->key);
    memset(hs, 0, sizeof(*hs));
}
