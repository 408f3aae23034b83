"""Every text a client can read, in one place: French, as in the original guide's contract."""
# ruff: noqa: S105 (texts about keys and tokens, not secrets)

from __future__ import annotations

BANNER = "Chatbot MVP est en cours d'exécution."
INVALID_KEY = "Clé API invalide ou manquante."

# The request body of /chat and the other JSON routes.
MISSING = "Message manquant dans la requête."
NOT_JSON = "Le corps de la requête n'est pas du JSON valide."
TOO_DEEP = "Le corps de la requête est imbriqué trop profondément."
NOT_OBJECT = 'Le corps de la requête doit être un objet JSON, par exemple {"message": "Bonjour"}.'
NOT_STRING = "Le champ message doit être une chaîne de caractères."
BLANK = "Le champ message est vide."
TOO_LONG = "Message trop long : {limit} caractères au maximum."
INVALID_TEXT = "Le texte envoyé n'est pas valide (caractères Unicode isolés ou interdits)."
BAD_CONVERSATION_ID = "Le champ conversation_id doit être un identifiant de conversation."
BAD_STREAM = "Le champ stream doit valoir true ou false."

#: The text for each status when an error carries no message of its own.
STATUS_TEXTS: dict[int, str] = {
    400: "Requête invalide.",
    403: "Accès refusé.",
    404: "Ressource introuvable.",
    405: "Méthode non autorisée pour cette ressource.",
    408: "Délai de réception de la requête dépassé.",
    413: "Requête trop volumineuse.",
    429: "Trop de requêtes, réessayez plus tard.",
    431: "En-têtes de requête trop volumineux.",
    500: "Erreur interne du serveur.",
    503: "Service momentanément indisponible, réessayez plus tard.",
}
CANCELLED = "Requête annulée par le client."

# The model server (what each upstream fault shows; the cause stays in the logs).
UPSTREAM_UNAVAILABLE = "Le service de langage est indisponible, réessayez plus tard."
UPSTREAM_BAD_RESPONSE = "Le service de langage a renvoyé une réponse invalide."
UPSTREAM_REJECTED = "Le service de langage a refusé la requête du chatbot."
UPSTREAM_RATE_LIMITED = "Le service de langage est saturé, réessayez plus tard."
UPSTREAM_TIMEOUT = "Le service de langage n'a pas répondu à temps."

# Limits and budgets.
RATE_LIMITED = "Trop de requêtes : réessayez dans {seconds} s."
BUDGET_SPENT = "Le budget quotidien de ce chatbot est épuisé ; réessayez demain."

# Conversations, feedback, reports.
CONVERSATION_NOT_FOUND = "Conversation introuvable."
BAD_RATING = 'Le champ rating doit valoir "up" ou "down".'
BAD_COMMENT = "Le champ comment doit être une chaîne de {limit} caractères au plus."
SECRET_KEY_REQUIRED = "Ce rapport demande la clé API secrète."

# The widget's publishable key and visitor tokens.
WIDGET_REFUSED = "Clé publique invalide ou site non autorisé."
WIDGET_OFF = "Le widget n'est pas activé sur ce chatbot."
TOKEN_INVALID = "Jeton de visiteur invalide ou expiré."
TOKEN_WRONG_ORIGIN = "Ce jeton de visiteur appartient à un autre site."
