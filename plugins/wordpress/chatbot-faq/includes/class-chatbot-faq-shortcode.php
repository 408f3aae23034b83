<?php
/**
 * The [chatbot_faq] shortcode: an accessible chat box that talks to this site's REST route.
 *
 * @package ChatbotFaq
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * Renders the chat box. Its only configuration in the page is the REST route's URL, a wp_rest nonce
 * and translated texts, all in data attributes: no inline script, and never the chatbot's key or address.
 */
class Chatbot_FAQ_Shortcode {

	const HANDLE = 'chatbot-faq';

	/**
	 * Number of chat boxes rendered so far on this page, for unique element ids.
	 *
	 * @var int
	 */
	private static $instances = 0;

	/**
	 * Hooks the shortcode and the assets.
	 */
	public static function register_hooks() {
		add_shortcode( 'chatbot_faq', array( __CLASS__, 'render' ) );
		add_action( 'wp_enqueue_scripts', array( __CLASS__, 'register_assets' ) );
	}

	/**
	 * Registers the script and style; the style is enqueued early on singular pages that use the shortcode.
	 */
	public static function register_assets() {
		wp_register_style(
			self::HANDLE,
			CHATBOT_FAQ_URL . 'assets/css/chatbot-faq.css',
			array(),
			CHATBOT_FAQ_VERSION
		);
		wp_register_script(
			self::HANDLE,
			CHATBOT_FAQ_URL . 'assets/js/chatbot-faq.js',
			array(),
			CHATBOT_FAQ_VERSION,
			true
		);

		$post = get_post();
		if ( is_singular() && $post instanceof WP_Post && has_shortcode( $post->post_content, 'chatbot_faq' ) ) {
			wp_enqueue_style( self::HANDLE );
		}
	}

	/**
	 * Renders one chat box.
	 *
	 * @param array<string, string>|string $atts Shortcode attributes: title, placeholder.
	 * @return string
	 */
	public static function render( $atts ) {
		$atts = shortcode_atts(
			array(
				'title'       => Chatbot_FAQ_Settings::title(),
				'placeholder' => Chatbot_FAQ_Settings::placeholder(),
			),
			$atts,
			'chatbot_faq'
		);

		if ( ! wp_script_is( self::HANDLE, 'registered' ) ) {
			self::register_assets();
		}
		wp_enqueue_style( self::HANDLE );
		wp_enqueue_script( self::HANDLE );

		++self::$instances;
		$id = 'chatbot-faq-' . self::$instances;

		$texts = array(
			'you'         => __( 'You', 'chatbot-faq' ),
			'bot'         => __( 'Bot', 'chatbot-faq' ),
			'waiting'     => __( 'The chatbot is thinking...', 'chatbot-faq' ),
			'empty'       => __( 'Please type a question.', 'chatbot-faq' ),
			'error'       => __( 'Sorry, something went wrong. Please try again.', 'chatbot-faq' ),
			'offline'     => __( 'The chatbot cannot be reached right now. Please try again in a moment.', 'chatbot-faq' ),
			'timeout'     => __( 'The chatbot took too long to answer. Please try again.', 'chatbot-faq' ),
			'sources'     => __( 'Sources:', 'chatbot-faq' ),
			'maxLength'   => Chatbot_FAQ_REST::MAX_MESSAGE_LENGTH,
			'timeoutSecs' => (int) apply_filters( 'chatbot_faq_timeout', Chatbot_FAQ_Client::DEFAULT_TIMEOUT ) + 5,
		);

		ob_start();
		?>
		<section class="chatbot-faq" id="<?php echo esc_attr( $id ); ?>" aria-labelledby="<?php echo esc_attr( $id . '-title' ); ?>"
			data-endpoint="<?php echo esc_url( Chatbot_FAQ_REST::chat_url() ); ?>"
			data-nonce="<?php echo esc_attr( wp_create_nonce( 'wp_rest' ) ); ?>"
			data-texts="<?php echo esc_attr( wp_json_encode( $texts ) ); ?>">
			<h2 class="chatbot-faq__title" id="<?php echo esc_attr( $id . '-title' ); ?>"><?php echo esc_html( $atts['title'] ); ?></h2>
			<div class="chatbot-faq__log" id="<?php echo esc_attr( $id . '-log' ); ?>" role="log" aria-live="polite" aria-relevant="additions" aria-label="<?php esc_attr_e( 'Conversation', 'chatbot-faq' ); ?>" tabindex="0"></div>
			<p class="chatbot-faq__status" id="<?php echo esc_attr( $id . '-status' ); ?>" role="status" aria-live="polite"></p>
			<form class="chatbot-faq__form" novalidate>
				<label class="chatbot-faq__label" for="<?php echo esc_attr( $id . '-input' ); ?>"><?php esc_html_e( 'Your question', 'chatbot-faq' ); ?></label>
				<div class="chatbot-faq__row">
					<input class="chatbot-faq__input" id="<?php echo esc_attr( $id . '-input' ); ?>" name="message" type="text" autocomplete="off" required
						maxlength="<?php echo esc_attr( (string) Chatbot_FAQ_REST::MAX_MESSAGE_LENGTH ); ?>"
						placeholder="<?php echo esc_attr( $atts['placeholder'] ); ?>"
						aria-describedby="<?php echo esc_attr( $id . '-status' ); ?>">
					<button class="chatbot-faq__send" type="submit"><?php esc_html_e( 'Send', 'chatbot-faq' ); ?></button>
				</div>
			</form>
			<noscript><p><?php esc_html_e( 'This chat needs JavaScript.', 'chatbot-faq' ); ?></p></noscript>
		</section>
		<?php
		return (string) ob_get_clean();
	}
}
