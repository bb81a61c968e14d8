/* Node configuration snapshots (see aoidc_node.h). */
#include "aoidc_node.h"
