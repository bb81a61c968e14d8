/* The session directory (see aoidc_directory.h). */
#include "aoidc_directory.h"
