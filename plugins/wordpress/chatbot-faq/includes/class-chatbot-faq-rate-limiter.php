<?php
/**
 * A per-visitor rate limit on questions, kept in transients.
 *
 * @package ChatbotFaq
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * A fixed one-minute window per visitor. A visitor is a logged-in user, else a hashed IP address
 * (REMOTE_ADDR; behind a reverse proxy, filter `chatbot_faq_client_ip` to read a trusted header).
 */
class Chatbot_FAQ_Rate_Limiter {

	const WINDOW = MINUTE_IN_SECONDS;

	const PREFIX = 'chatbot_faq_rl_';

	/**
	 * Counts one question for the current visitor.
	 *
	 * @return true|int True when allowed, else the seconds until the window ends.
	 */
	public static function hit() {
		$limit = Chatbot_FAQ_Settings::rate_limit();
		if ( 0 === $limit ) {
			return true;
		}
		$key    = self::PREFIX . self::visitor();
		$now    = time();
		$bucket = get_transient( $key );
		if ( ! is_array( $bucket ) || ! isset( $bucket['start'], $bucket['count'] ) || $now - (int) $bucket['start'] >= self::WINDOW ) {
			$bucket = array(
				'start' => $now,
				'count' => 0,
			);
		}
		if ( (int) $bucket['count'] >= $limit ) {
			return max( 1, self::WINDOW - ( $now - (int) $bucket['start'] ) );
		}
		++$bucket['count'];
		set_transient( $key, $bucket, self::WINDOW );
		return true;
	}

	/**
	 * A stable, non-reversible id of the current visitor.
	 *
	 * @return string
	 */
	private static function visitor() {
		$user_id = get_current_user_id();
		if ( $user_id ) {
			return 'u' . $user_id;
		}
		$ip = isset( $_SERVER['REMOTE_ADDR'] ) ? sanitize_text_field( wp_unslash( $_SERVER['REMOTE_ADDR'] ) ) : '';
		/**
		 * Filters the visitor's IP address used for the rate limit.
		 *
		 * @param string $ip REMOTE_ADDR.
		 */
		$ip = (string) apply_filters( 'chatbot_faq_client_ip', $ip );
		return substr( wp_hash( 'chatbot_faq_ip|' . $ip ), 0, 32 );
	}
}
